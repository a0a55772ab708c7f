// Package internal groups the packages that do not touch the Kubernetes API: the Galera,
// Pacemaker and HAProxy probes, node selection, schedule math and the backup agent.
package internal
