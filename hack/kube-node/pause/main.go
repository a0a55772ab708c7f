// Command pause is the sandbox ("pause") container of the one-node Kubernetes that
// hack/kube-node.sh runs. Nothing can be pulled on our machines, so containerd's
// sandbox_image is this program, built static and imported as a local image.
//
// Like registry.k8s.io/pause it holds the pod's namespaces open, reaps the children it
// inherits as PID 1 of a pod that shares its process namespace, and exits on SIGINT or
// SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
