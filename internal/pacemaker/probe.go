package pacemaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// DefaultCommand asks crm_mon for one XML snapshot including stopped resources (so a stopped
// galera replica still names its host).
const DefaultCommand = "crm_mon --one-shot --inactive --output-as=xml"

// DefaultHostTimeout bounds one host's answer when ProbeOptions.HostTimeout is zero.
const DefaultHostTimeout = 20 * time.Second

// CommandRunner runs a command on a host and returns its standard output. internal/remote's SSH
// Runner satisfies it. On a non-zero exit it returns what the command printed together with an
// error that has an ExitStatus() int method.
type CommandRunner interface {
	Run(ctx context.Context, host string, port int, command string, stdin []byte) ([]byte, error)
}

// Host is a node Probe may ask.
type Host struct {
	// Name is the node's name, reported back in Status.Host.
	Name string
	// Address is where to reach it; empty means Name.
	Address string
	// Port is the SSH port; 0 means 22.
	Port int
}

// ProbeOptions tune Probe.
type ProbeOptions struct {
	// Options are passed to Parse.
	Options
	// HostTimeout bounds each host's attempt (connect, run, answer); 0 means DefaultHostTimeout.
	HostTimeout time.Duration
}

// HostError is one host's failure to give a usable status.
type HostError struct {
	// Host is the host's name.
	Host string
	// ExitStatus is the command's exit status, or -1 when it did not run to an exit (connection
	// refused, unknown host key, timeout).
	ExitStatus int
	// Err is the cause: the runner's error, a *ResultError from crm_mon's own XML, or a parse error.
	Err error
}

// Error implements error.
func (e *HostError) Error() string {
	if e.ExitStatus >= 0 {
		return fmt.Sprintf("%s: crm_mon exited with status %d: %v", e.Host, e.ExitStatus, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Host, e.Err)
}

// Unwrap returns the cause.
func (e *HostError) Unwrap() error { return e.Err }

// ErrNoHosts is returned by Probe when it is given no host to ask.
var ErrNoHosts = errors.New("no pacemaker host to ask")

// Probe asks the hosts in order, each within its own deadline, and returns the first usable
// status with Status.Host set to the host that gave it. A host fails when the command cannot run,
// exits non-zero (crm_mon's 102 is "not connected": no cluster there) or prints a document Parse
// rejects; Probe then asks the next one. When all fail, the error joins every *HostError.
func Probe(ctx context.Context, runner CommandRunner, hosts []Host, command string, opts ProbeOptions) (*Status, error) {
	if len(hosts) == 0 {
		return nil, ErrNoHosts
	}
	if command == "" {
		command = DefaultCommand
	}
	timeout := opts.HostTimeout
	if timeout <= 0 {
		timeout = DefaultHostTimeout
	}
	errs := make([]error, 0, len(hosts))
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("probe stopped before %s: %w", h.Name, err))
			break
		}
		st, err := probeOne(ctx, runner, h, command, timeout, opts.Options)
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no pacemaker host gave a usable status: %w", errors.Join(errs...))
}

func probeOne(ctx context.Context, runner CommandRunner, h Host, command string, timeout time.Duration, opts Options) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	port := h.Port
	if port == 0 {
		port = 22
	}
	out, runErr := runner.Run(ctx, addr, port, command, nil)
	if runErr != nil {
		herr := &HostError{Host: h.Name, ExitStatus: -1, Err: runErr}
		var exit interface{ ExitStatus() int }
		if errors.As(runErr, &exit) {
			herr.ExitStatus = exit.ExitStatus()
			// crm_mon explains itself on stdout (<status code="102" message="Not connected">).
			var re *ResultError
			if _, perr := Parse(out, opts); errors.As(perr, &re) {
				herr.Err = fmt.Errorf("%w (%w)", re, runErr)
			}
		}
		return nil, herr
	}
	st, err := Parse(out, opts)
	if err != nil {
		return nil, &HostError{Host: h.Name, ExitStatus: 0, Err: fmt.Errorf("parsing crm_mon output from %s: %w",
			net.JoinHostPort(addr, strconv.Itoa(port)), err)}
	}
	st.Host = h.Name
	return st, nil
}
