// Command nsinit is PID 1 of a controller's PID namespace in the live local overcloud
// (hack/overcloud.sh with OCB_PACEMAKER=live). hack/overcloud-live.sh's namespace script
// mounts the controller's private /run, /dev/shm, /tmp and Pacemaker/Corosync state, then
// execs this program, which does one thing: reap every child the kernel gives it.
//
// A PID namespace's init inherits every orphan in it (the galera resource agent's su and
// mysqld_safe helpers, the fence and monitor forks of pacemaker-execd); an init that does not
// wait for them leaves zombies. It ignores SIGTERM and SIGINT as an init does: a controller
// is powered off by SIGKILL to this process, which makes the kernel kill everything in its
// namespace at once, like pulling the plug.
package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		var st syscall.WaitStatus
		_, err := syscall.Wait4(-1, &st, 0, nil)
		switch {
		case err == nil, errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.ECHILD):
			// No child at the moment: the next one arrives with a fork or a reparenting.
			time.Sleep(time.Second)
		default:
			_, _ = os.Stderr.WriteString("nsinit: wait4: " + err.Error() + "\n")
			time.Sleep(time.Second)
		}
	}
}
