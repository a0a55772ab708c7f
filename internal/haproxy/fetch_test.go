package haproxy

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCSVURL(t *testing.T) {
	cases := map[string]string{ //nolint:gosec // G101: made-up URLs, no real credentials
		"http://192.0.2.1:1993":                     "http://192.0.2.1:1993/;csv",
		"http://192.0.2.1:1993/":                    "http://192.0.2.1:1993/;csv",
		"https://vip.example:1993/stats":            "https://vip.example:1993/stats;csv",
		"http://192.0.2.1:1993/stats/":              "http://192.0.2.1:1993/stats/;csv",
		"http://192.0.2.1:1993/haproxy?stats":       "http://192.0.2.1:1993/haproxy?stats;csv",
		"http://192.0.2.1:1993/;csv":                "http://192.0.2.1:1993/;csv",
		"http://192.0.2.1:1993/haproxy?stats;csv":   "http://192.0.2.1:1993/haproxy?stats;csv",
		"http://192.0.2.1:1993/#frag":               "http://192.0.2.1:1993/;csv",
		"http://[2001:db8::1]:1993":                 "http://[2001:db8::1]:1993/;csv",
		"http://u:p@192.0.2.1:1993/":                "http://u:p@192.0.2.1:1993/;csv",
		"http://192.0.2.1:1993/a%20b":               "http://192.0.2.1:1993/a%20b;csv",
		"http://192.0.2.1:1993/haproxy?stats&x=1#f": "http://192.0.2.1:1993/haproxy?stats&x=1;csv",
	}
	for in, want := range cases {
		got, err := CSVURL(in)
		if err != nil || got != want {
			t.Errorf("CSVURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "192.0.2.1:1993", "ftp://h/", "http:///x", "http://h:99999999999/\x7f", "http://u:secret@/x"} {
		if got, err := CSVURL(bad); err == nil {
			t.Errorf("CSVURL(%q) = %q, want an error", bad, got)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("CSVURL(%q) error shows the password: %v", bad, err)
		}
	}
}

func TestSocketCommand(t *testing.T) {
	if got := SocketCommand("", "/var/lib/haproxy/stats"); got != "sudo -n socat stdio UNIX-CONNECT:'/var/lib/haproxy/stats'" {
		t.Errorf("default = %q", got)
	}
	if got := SocketCommand("podman exec haproxy-bundle socat stdio {socket}", "/s"); got != "podman exec haproxy-bundle socat stdio '/s'" {
		t.Errorf("template = %q", got)
	}
}

// TestSocketCommandHostilePath: whatever the socket path holds, a real shell sees one
// word and runs nothing of it.
func TestSocketCommandHostilePath(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	for _, path := range []string{
		"/x; touch " + pwned,
		"/x' ; touch " + pwned + " ; echo '",
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		`/x\ntouch ` + pwned,
		"/x\ntouch " + pwned,
		"/x && touch " + pwned + " #",
	} {
		cmd := SocketCommand(`printf %s {socket}`, path)
		out, err := exec.CommandContext(context.Background(), "sh", "-c", cmd).Output() //nolint:gosec // G204: the point of the test
		if err != nil {
			t.Fatalf("sh -c %q: %v", cmd, err)
		}
		if string(out) != path {
			t.Errorf("the shell saw %q, want the path %q as one word", out, path)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("path %q ran a command", path)
		}
	}
}

// statsServer serves a recorded ";csv" export behind basic auth, like HAProxy's stats page.
func statsServer(t *testing.T, body []byte) (*httptest.Server, *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RequestURI())
		u, p, ok := r.BasicAuth()
		if !ok || u != "admin" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="HAProxy Statistics"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		if !strings.HasSuffix(r.URL.RequestURI(), ";csv") {
			http.Error(w, "want ;csv", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestFetchHTTPRecorded(t *testing.T) {
	srv, seen := statsServer(t, fixture(t, "04-failover-new-client.http.csv"))
	ctx := context.Background()
	for _, u := range []string{srv.URL, srv.URL + "/"} {
		b, err := FetchHTTP(ctx, srv.Client(), u, "admin", "s3cret", "mysql")
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		checkBackend(t, b, scenarios[4], false)
	}
	if got := strings.Join(*seen, " "); got != "/;csv /;csv" {
		t.Errorf("requests = %s", got)
	}

	// Wrong password: an error with the status, never the credentials.
	_, err := FetchHTTP(ctx, nil, srv.URL, "admin", "wrong-password", "mysql")
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("wrong password: err = %v", err)
	}
	u := strings.Replace(srv.URL, "http://", "http://admin:url-password@", 1)
	_, err = FetchHTTP(ctx, nil, u+"/nope?x", "", "", "mysql")
	if err == nil || strings.Contains(err.Error(), "url-password") {
		t.Errorf("URL credentials: err = %v", err)
	}
	// Credentials in the URL are used when no user is given.
	if _, err := FetchHTTP(ctx, nil, strings.Replace(u, "url-password", "s3cret", 1), "", "", "mysql"); err != nil {
		t.Errorf("URL credentials: %v", err)
	}
	_, err = FetchHTTP(ctx, nil, srv.URL, "admin", "s3cret", "keystone")
	if !errors.Is(err, ErrBackendNotFound) {
		t.Errorf("unknown backend: err = %v", err)
	}
	if _, err := FetchHTTP(ctx, nil, "ftp://x/", "", "", "mysql"); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestFetchHTTPLimits(t *testing.T) {
	release := make(chan struct{})
	huge := bytes.Repeat([]byte("x"), MaxResponseBytes+10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow;csv":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/huge;csv":
			_, _ = w.Write([]byte("# pxname,svname,status,scur\n"))
			_, _ = w.Write(huge)
		case "/redirect;csv":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/html;csv":
			_, _ = w.Write([]byte("<html>login</html>"))
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := FetchHTTP(ctx, nil, srv.URL+"/slow", "", "", "mysql")
	// The page never answers: anything well short of the test's end is the deadline at work.
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("slow page: err = %v after %v", err, time.Since(start))
	}
	_, err = FetchHTTP(context.Background(), nil, srv.URL+"/huge", "", "", "mysql")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge page: err = %v", err)
	}
	_, err = FetchHTTP(context.Background(), nil, srv.URL+"/redirect", "", "", "mysql")
	if err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("redirect: err = %v", err)
	}
	_, err = FetchHTTP(context.Background(), nil, srv.URL+"/html", "", "", "mysql")
	if err == nil || strings.Contains(err.Error(), "login") || !strings.Contains(err.Error(), "18 bytes of HTML") {
		t.Errorf("html page: err = %v, want its size and kind, never its content", err)
	}
}

// replayRunner answers with a recorded socket answer; it stands in for SSH only in the
// error-path tests (live_test.go talks to a real HAProxy).
type replayRunner struct {
	out   []byte
	err   error
	stdin string
}

func (r *replayRunner) Run(_ context.Context, _ string, _ int, _ string, stdin []byte) ([]byte, error) {
	r.stdin = string(stdin)
	return r.out, r.err
}

var _ CommandRunner = (*replayRunner)(nil)

func TestFetchSocketRecorded(t *testing.T) {
	ctx := context.Background()
	r := &replayRunner{out: fixture(t, "02-one-client.socket-combined.txt")}
	b, tbl, err := FetchSocket(ctx, r, "192.0.2.10", 22, "x", "mysql")
	if err != nil {
		t.Fatal(err)
	}
	if r.stdin != "show stat;show table mysql\n" {
		t.Errorf("stdin = %q", r.stdin)
	}
	checkBackend(t, b, scenarios[1], true)
	checkTable(t, tbl, scenarios[1])

	stat := fixture(t, "02-one-client.stat.csv")
	cases := []struct {
		name    string
		out     []byte
		runErr  error
		backend string
		noTable bool
	}{
		{name: "runner error", runErr: errors.New("ssh: handshake failed"), backend: "mysql"},
		{name: "permission denied", out: []byte("Permission denied\n\n"), backend: "mysql"},
		{name: "no table answer", out: stat, backend: "mysql"},
		{name: "stat only then nothing", out: append(append([]byte{}, stat...), "\n"...), backend: "mysql"},
		{name: "no stick table", out: append(append([]byte{}, stat...), fixture(t, "error-no-stick-table.table.txt")...),
			backend: "mysql_nocheck", noTable: true},
		{name: "other table", out: append(append([]byte{}, stat...), fixture(t, "02-one-client.table.txt")...),
			backend: "mysql_nocheck"},
		{name: "garbage table", out: append(append([]byte{}, stat...), "Unknown command\n\n"...), backend: "mysql"},
		{name: "injection", backend: "mysql;disable server mysql/controller-0"},
		{name: "newline", backend: "mysql\nshutdown"},
		{name: "empty backend", backend: ""},
		{name: "too large", out: bytes.Repeat([]byte("#"), MaxResponseBytes+1), backend: "mysql"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &replayRunner{out: c.out, err: c.runErr}
			b, tbl, err := FetchSocket(ctx, r, "192.0.2.10", 22, "x", c.backend)
			if err == nil {
				t.Fatalf("no error: %+v %+v", b, tbl)
			}
			if errors.Is(err, ErrNoTable) != c.noTable || (c.noTable && (b == nil || tbl != nil)) {
				t.Errorf("err = %v, backend %v, table %v", err, b != nil, tbl != nil)
			}
			if !c.noTable && (b != nil || tbl != nil) {
				t.Errorf("partial result with err = %v", err)
			}
		})
	}
	if _, _, err := FetchSocket(ctx, nil, "h", 22, "x", "mysql"); err == nil {
		t.Error("nil runner accepted")
	}
}
