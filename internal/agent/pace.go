package agent

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// paceBurst is the most a paced copy passes at once: one read of the dump's pipe.
const paceBurst = 1 << 20

// pacedWriter caps the rate at which the dump tool's output is taken, so that the tool,
// and the server it reads from, work no faster than that: the cap that keeps a backup
// from slowing the cluster down where the node has no CPU to spare (every Galera commit
// waits for every node to take part in ordering it; docs/benchmarks.md).
type pacedWriter struct {
	ctx context.Context
	w   io.Writer
	lim *rate.Limiter
}

// paced wraps w with a cap of bytesPerSecond (0: none).
func paced(ctx context.Context, w io.Writer, bytesPerSecond int64) io.Writer {
	if bytesPerSecond <= 0 {
		return w
	}
	return &pacedWriter{ctx: ctx, w: w, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), paceBurst)}
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), paceBurst)
		if err := p.lim.WaitN(p.ctx, n); err != nil {
			return written, err
		}
		k, err := p.w.Write(b[:n])
		written += k
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}
