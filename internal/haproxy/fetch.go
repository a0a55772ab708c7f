package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// csvSuffix asks HAProxy's stats page for the CSV export.
const csvSuffix = ";csv"

// DefaultTimeout bounds a fetch whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// MaxResponseBytes caps what a fetch reads. A TripleO stats CSV is tens of kilobytes;
// anything beyond this is not an answer we want to hold in memory.
const MaxResponseBytes = 4 << 20

// DefaultSocketCommand is run (over SSH, on the VIP holder) to talk to the stats socket
// when the API does not set one; {socket} stands for the socket's path.
const DefaultSocketCommand = "sudo -n socat stdio UNIX-CONNECT:{socket}"

// ErrNoTable is returned (wrapped) by FetchSocket when HAProxy has no stick table for the
// backend; the backend is still returned.
var ErrNoTable = errors.New("no stick table for the backend")

// CommandRunner runs command on host:port (over SSH in production), feeds it stdin and
// returns its standard output. It is declared here, where it is consumed; the operator's
// SSH runner satisfies it (and so does probe.CommandRunner, which has the same method).
type CommandRunner interface {
	Run(ctx context.Context, host string, port int, command string, stdin []byte) ([]byte, error)
}

// proxyName is what HAProxy (and the API's validation) allows in a proxy name; anything
// else could smuggle extra runtime commands through ";" or a newline.
var proxyName = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// SocketCommand expands a statsSocketCommand template ("" means DefaultSocketCommand):
// {socket} becomes the socket's path as one shell word, single-quoted, whatever it holds
// (the API restricts it to safe characters, but `probe -f` files and future callers
// need not have gone through the API server).
func SocketCommand(template, socket string) string {
	if template == "" {
		template = DefaultSocketCommand
	}
	return strings.ReplaceAll(template, "{socket}", ShellQuote(socket))
}

// ShellQuote makes s one word for a POSIX shell: single quotes around it, each single
// quote inside closed, escaped and reopened.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CSVURL returns the stats page URL that serves the CSV export: ";csv" appended to the
// stats URI ("http://vip:1993" and "http://vip:1993/" give "http://vip:1993/;csv",
// "http://vip:1993/haproxy?stats" gives "http://vip:1993/haproxy?stats;csv"). A URL that
// already asks for ";csv" is returned as is.
func CSVURL(statsURL string) (string, error) {
	u, err := url.Parse(statsURL)
	if err != nil {
		return "", fmt.Errorf("stats URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("stats URL %q: want http(s)://host[:port]/path", u.Redacted())
	}
	u.Fragment, u.RawFragment = "", ""
	if strings.Contains(u.RawQuery, csvSuffix) || strings.Contains(u.EscapedPath(), csvSuffix) {
		return u.String(), nil
	}
	switch {
	case u.RawQuery != "" || u.ForceQuery:
		// HAProxy matches "stats uri /haproxy?stats" against the whole request URI and
		// looks for ";csv" after it.
		u.RawQuery += csvSuffix
		u.ForceQuery = false
	default:
		if u.Path == "" {
			u.Path = "/"
		}
		if u.RawPath != "" {
			u.RawPath += csvSuffix
		}
		u.Path += csvSuffix
	}
	return u.String(), nil
}

// FetchHTTP reads the stats page's CSV export with basic auth (when user is not empty)
// and returns the parsed backend. The request is bounded by ctx, or by DefaultTimeout when
// ctx has no deadline; the body is capped at MaxResponseBytes. A non-200 answer is an
// error naming the status and the URL without credentials. A nil client means a
// client with no redirects followed.
func FetchHTTP(ctx context.Context, client *http.Client, statsURL, user, password, backend string) (*Backend, error) {
	csvURL, err := CSVURL(statsURL)
	if err != nil {
		return nil, err
	}
	shown := redact(csvURL)
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, csvURL, nil)
	if err != nil {
		return nil, fmt.Errorf("stats page %s: %w", shown, err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		// net/http's *url.Error already strips a password from the URL.
		return nil, fmt.Errorf("stats page: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("stats page %s: HTTP %s", shown, resp.Status)
	}
	body, err := readCapped(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("stats page %s: %w", shown, err)
	}
	b, err := ParseStatCSV(body, backend)
	if err != nil {
		return nil, fmt.Errorf("stats page %s: %w", shown, err)
	}
	return b, nil
}

// FetchSocket asks the stats socket, through runner and command (see SocketCommand), for
// "show stat" and "show table <backend>" in ONE call (the runtime API runs commands
// separated by ";" in order, ending each answer with an empty line), and parses both.
// When HAProxy has no stick table for the backend it returns the backend, a nil table
// and an error wrapping ErrNoTable.
func FetchSocket(ctx context.Context, runner CommandRunner, host string, port int, command, backend string) (*Backend, *Table, error) {
	if runner == nil {
		return nil, nil, errors.New("stats socket: no command runner")
	}
	if !proxyName.MatchString(backend) {
		return nil, nil, fmt.Errorf("stats socket: invalid backend name %q", truncate(backend, 64))
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out, err := runner.Run(ctx, host, port, command, []byte("show stat;show table "+backend+"\n"))
	if err != nil {
		return nil, nil, fmt.Errorf("stats socket on %s: %w", host, err)
	}
	if len(out) > MaxResponseBytes {
		return nil, nil, fmt.Errorf("stats socket on %s: answer larger than %d bytes", host, MaxResponseBytes)
	}
	stat, table, err := splitSocketAnswer(out)
	if err != nil {
		return nil, nil, fmt.Errorf("stats socket on %s: %w", host, err)
	}
	b, err := ParseStatCSV(stat, backend)
	if err != nil {
		return nil, nil, fmt.Errorf("stats socket on %s: %w", host, err)
	}
	switch answer := bytes.TrimSpace(table); {
	case len(answer) == 0:
		return nil, nil, fmt.Errorf("stats socket on %s: no answer to show table %s (truncated?)", host, backend)
	case bytes.HasPrefix(answer, []byte("No such table")):
		return b, nil, fmt.Errorf("stats socket on %s: show table %s: %w", host, backend, ErrNoTable)
	}
	t, err := ParseTable(table)
	if err != nil {
		return nil, nil, fmt.Errorf("stats socket on %s: %w", host, err)
	}
	if t.Name != backend {
		return nil, nil, fmt.Errorf("stats socket on %s: asked for table %q, got %q", host, backend, t.Name)
	}
	return b, t, nil
}

// splitSocketAnswer separates the answers to "show stat;show table x": the stats CSV is
// the first block (it has no empty line inside), the table dump is the rest. An answer
// not starting with the CSV header (e.g. "Permission denied", "Unknown command") is an
// error quoting it.
func splitSocketAnswer(out []byte) (stat, table []byte, err error) {
	s := bytes.TrimLeft(out, " \t\r\n")
	if !bytes.HasPrefix(s, []byte("# pxname")) {
		return nil, nil, fmt.Errorf("unexpected answer to show stat: %s", excerpt(s))
	}
	s = bytes.ReplaceAll(s, []byte("\r\n"), []byte("\n"))
	i := bytes.Index(s, []byte("\n\n"))
	if i < 0 {
		return nil, nil, errors.New("answer ends after show stat: no answer to show table (truncated?)")
	}
	return s[:i+1], s[i+2:], nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func readCapped(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxResponseBytes {
		return nil, fmt.Errorf("body larger than %d bytes", MaxResponseBytes)
	}
	return body, nil
}

// redact drops the user info from a URL shown in an error.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.User = nil
	return u.String()
}
