// Command fencebmc is the power controller of the live local overcloud
// (OCB_PACEMAKER=live hack/overcloud.sh), the part of a real overcloud's IPMI BMCs that
// Pacemaker's fencing needs: it listens on the sandbox bridge's host address, and the fence
// agent (hack/overcloud/fence_ocb, run by pacemaker-fenced on a controller) asks it to power a
// controller off, on, or for its power state. Powering off is SIGKILL to the controller's PID
// namespace init (everything in it dies at once, as in a power cut); powering on starts its
// namespaces, Corosync, Pacemaker, clustercheck and sshd again. Both are hack/overcloud.sh
// power-off / power-on.
//
// One request per connection, one line: "<token> <action> <node>", the token being the
// contents of -token-file (so that only the sandbox's own agent may fence), action one of
// status, on, off; node controller-N. The answer is one line: "on", "off", "ok", or
// "error: <why>". Requests are bounded (256 bytes, 10 s to send) and served one at a time:
// two fences of one controller never interleave.
package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

var nodeName = regexp.MustCompile(`^controller-([0-9])$`)

// The power states, and the actions that set them.
const (
	powerOn  = "on"
	powerOff = "off"
)

type bmc struct {
	token  []byte
	script string
	state  string
	mu     sync.Mutex // one power action at a time
}

func main() {
	listen := flag.String("listen", "", "host:port to listen on (the sandbox bridge's host address)")
	tokenFile := flag.String("token-file", "", "file holding the shared token")
	script := flag.String("script", "", "hack/overcloud.sh")
	state := flag.String("state", "", "the live sandbox's state directory (OCB_SANDBOX_DIR)")
	flag.Parse()
	token, err := os.ReadFile(*tokenFile)
	if err != nil || len(strings.TrimSpace(string(token))) < 16 {
		log.Fatalf("fencebmc: a token of 16 bytes or more is needed in -token-file: %v", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", *listen)
	if err != nil {
		log.Fatalf("fencebmc: %v", err)
	}
	b := &bmc{token: []byte(strings.TrimSpace(string(token))), script: *script, state: *state}
	log.Printf("fencebmc: listening on %s", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Printf("fencebmc: accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go b.serve(conn)
	}
}

func (b *bmc) serve(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 256)).ReadString('\n')
	if err != nil {
		return
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || subtle.ConstantTimeCompare([]byte(fields[0]), b.token) != 1 {
		_, _ = fmt.Fprintln(conn, "error: bad request")
		return
	}
	action, node := fields[1], fields[2]
	m := nodeName.FindStringSubmatch(node)
	if m == nil {
		_, _ = fmt.Fprintln(conn, "error: unknown node")
		return
	}
	// The power action may take longer than the request's deadline (power-on waits for the
	// daemons): the answer gets its own.
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	b.mu.Lock()
	defer b.mu.Unlock()
	var answer string
	switch action {
	case "status":
		answer = b.status(m[1])
	case powerOff:
		answer = b.run("power-off", m[1])
	case powerOn:
		answer = b.run("power-on", m[1])
	default:
		answer = "error: unknown action"
	}
	log.Printf("fencebmc: %s %s: %s", action, node, answer)
	_, _ = fmt.Fprintln(conn, answer)
}

// status is "on" while the controller's PID namespace init runs, else "off".
func (b *bmc) status(n string) string {
	data, err := os.ReadFile(b.state + "/c" + n + "/holder.pid") //nolint:gosec // G304: our state dir, n one digit
	if err != nil {
		return powerOff
	}
	pid := strings.TrimSpace(string(data))
	comm, err := os.ReadFile("/proc/" + pid + "/comm") //nolint:gosec // G304: /proc of a PID we wrote
	if err != nil || strings.TrimSpace(string(comm)) != "nsinit" {
		return powerOff
	}
	return powerOn
}

func (b *bmc) run(cmd, n string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, b.script, cmd, n) //nolint:gosec // G204: our own script, n is one digit
	c.Env = append(os.Environ(), "OCB_PACEMAKER=live", "OCB_SANDBOX_DIR="+b.state)
	out, err := c.CombinedOutput()
	if err != nil {
		last := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(last, '\n'); i >= 0 {
			last = last[i+1:]
		}
		return "error: " + cmd + ": " + err.Error() + ": " + last
	}
	return "ok"
}
