package probe

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/selection"
)

// scripted answers Status per node after a delay; a node without an answer hangs until
// the context ends, as a node whose sshd froze would.
type scripted map[string]struct {
	after time.Duration
	view  *PacemakerView
	err   error
}

func (s scripted) Status(ctx context.Context, n Node) (*PacemakerView, error) {
	a, ok := s[n.Name]
	if !ok {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select {
	case <-time.After(a.after):
		return a.view, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestFirstPacemaker(t *testing.T) {
	nodes := []Node{{Name: "c0"}, {Name: "c1"}, {Name: "c2"}}
	quorate := &PacemakerView{Cluster: selection.PacemakerCluster{Quorum: true}}
	minority := &PacemakerView{Cluster: selection.PacemakerCluster{Quorum: false}}
	// The hedge delay and the context are long beside a goroutine's scheduling on a loaded
	// machine, so that "at once", "after the hedge" and "at the deadline" stay apart.
	const hedge, deadline = 500 * time.Millisecond, 5 * time.Second
	cases := []struct {
		name    string
		src     scripted
		want    *PacemakerView
		errs    int
		maxTook time.Duration
	}{
		{"first node answers", scripted{"c0": {after: 5 * time.Millisecond, view: quorate}}, quorate, 0, hedge},
		{"first node hangs: the second is asked after the hedge delay", scripted{"c1": {view: quorate}}, quorate, 0, 3 * hedge},
		{"first node fails: the second is asked at once", scripted{"c0": {err: errors.New("refused")}, "c1": {view: quorate}}, quorate, 1, hedge},
		{"no quorum: keep asking, fall back to it", scripted{"c0": {view: minority}, "c1": {err: errors.New("x")}, "c2": {err: errors.New("y")}}, minority, 2, hedge},
		{"no quorum first, quorum later", scripted{"c0": {view: minority}, "c1": {view: quorate}}, quorate, 0, hedge},
		{"every node hangs: bounded by the context", scripted{}, nil, 1, deadline + 2*time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			v, errs := firstPacemaker(ctx, tc.src, nodes, hedge)
			took := time.Since(start)
			if v != tc.want || len(errs) != tc.errs {
				t.Errorf("got view %p errs %v, want %p and %d errors", v, errs, tc.want, tc.errs)
			}
			if took > tc.maxTook {
				t.Errorf("took %v, want under %v", took, tc.maxTook)
			}
		})
	}
}
