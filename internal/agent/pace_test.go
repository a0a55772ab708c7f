package agent

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestPaced: a cap lets the first MiB through at once (the burst) and the rest no faster
// than the rate: the elapsed time has a floor whatever the machine's load, so the check
// cannot be flaky. A cancelled context stops the copy.
func TestPaced(t *testing.T) {
	var out bytes.Buffer
	w := paced(t.Context(), &out, 4<<20) // 4 MiB/s
	start := time.Now()
	n, err := w.Write(make([]byte, 3<<20)) // 1 MiB burst + 2 MiB at 4 MiB/s: >= 0.5 s
	if err != nil || n != 3<<20 || out.Len() != 3<<20 {
		t.Fatalf("wrote %d (%d) err %v", n, out.Len(), err)
	}
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("3 MiB at 4 MiB/s took %v, want at least 0.5 s", took)
	}
	if same := paced(t.Context(), &out, 0); same != &out {
		t.Error("no cap must return the writer itself")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w = paced(ctx, &out, 1<<20)
	if _, err := w.Write(make([]byte, 3<<20)); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled copy: %v", err)
	}
}
