package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// ProgressLine is one structured progress line on stdout, so that `kubectl logs -f` on
// the backup Job shows how far the dump is.
type ProgressLine struct {
	Time time.Time `json:"time"`
	// Msg is "progress" while the dump runs and "done" for the last line.
	Msg    string `json:"msg"`
	Backup string `json:"backup"`
	Node   string `json:"node"`
	// Bytes is what the dump tool produced so far (uncompressed); Written is what is on
	// the volume (compressed).
	Bytes   int64 `json:"bytes"`
	Written int64 `json:"written"`
	// BytesPerSecond is the rate of Bytes since the start.
	BytesPerSecond int64   `json:"bytesPerSecond"`
	Elapsed        float64 `json:"elapsedSeconds"`
	// Percent is an estimate from the table data sizes in information_schema: the dump's
	// size is not known in advance, so it stays at most 99 until the dump is done.
	Percent *float64 `json:"percent,omitempty"`
}

// progressLine computes one line. It is pure: now and the counters are passed in.
func progressLine(msg, backup, node string, start, now time.Time, raw, disk, estimate int64) ProgressLine {
	l := ProgressLine{Time: now.UTC(), Msg: msg, Backup: backup, Node: node, Bytes: raw, Written: disk}
	el := now.Sub(start).Seconds()
	l.Elapsed = float64(int64(el*10)) / 10
	if el > 0 {
		l.BytesPerSecond = int64(float64(raw) / el)
	}
	if estimate > 0 {
		p := 100 * float64(raw) / float64(estimate)
		if msg == "done" {
			p = 100
		} else if p > 99 {
			p = 99
		}
		p = float64(int64(p*10)) / 10
		l.Percent = &p
	}
	return l
}

// reportProgress writes a progress line to w every `every` until the returned stop is
// called; stop writes a last line ("done" when ok) and waits for the reporter to end.
func reportProgress(w io.Writer, every time.Duration, art *Artifact, backup, node string, estimate int64) (stop func(ok bool)) {
	if w == nil || every <= 0 {
		return func(bool) {}
	}
	start := time.Now()
	emit := func(msg string) {
		raw, disk := art.Written()
		b, err := json.Marshal(progressLine(msg, backup, node, start, time.Now(), raw, disk, estimate))
		if err == nil {
			_, _ = fmt.Fprintf(w, "%s\n", b)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				emit("progress")
			}
		}
	})
	return func(ok bool) {
		close(done)
		wg.Wait()
		if ok {
			emit("done")
		} else {
			emit("stopped")
		}
	}
}
