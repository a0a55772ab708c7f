package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRunUsage: bad usage exits 2 with one "error: " line and a hint, before anything
// connects to a cluster; version exits 0.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		stderr  string // the first line
		stdout  string
		connect bool // the command gets as far as connecting
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "error: a command is required"},
		{name: "unknown command", args: []string{"nope"}, code: exitUsage, stderr: `error: unknown command "nope"`},
		{name: "unknown flag", args: []string{"status", "--bogus"}, code: exitUsage, stderr: "error: unknown flag: --bogus"},
		{name: "backup without overcloud", args: []string{"backup"}, code: exitUsage, stderr: "error: accepts 1 arg(s), received 0"},
		{name: "status with two names", args: []string{"status", "a", "b"}, code: exitUsage, stderr: "error: accepts at most 1 arg(s)"},
		{name: "restore alone", args: []string{"restore"}, code: exitUsage, stderr: "error: a subcommand is required"},
		{name: "restore plan without backup", args: []string{"restore", "plan"}, code: exitUsage, stderr: "error: accepts 1 arg(s)"},
		{name: "verify without backup", args: []string{"verify"}, code: exitUsage, stderr: "error: accepts 1 arg(s)"},
		{name: "probe without overcloud", args: []string{"probe"}, code: exitUsage, stderr: "error: accepts 1 arg(s)"},
		{name: "invalid name", args: []string{"status", "Bad_Name"}, code: exitUsage, stderr: `error: "Bad_Name" is not a valid name`},
		{name: "name with a slash", args: []string{"verify", "../x"}, code: exitUsage, stderr: `error: "../x" is not a valid name`},
		{name: "invalid schedule name", args: []string{"backup", "oc", "--schedule", "-x"}, code: exitUsage, stderr: `error: "-x" is not a valid name`},
		{name: "bad output", args: []string{"status", "-o", "xml"}, code: exitUsage, stderr: `error: -o "xml": want table, json or yaml`},
		{name: "schedule and pvc", args: []string{"backup", "oc", "--schedule", "s", "--pvc", "p"}, code: exitUsage,
			stderr: "error: --schedule and --pvc exclude each other"},
		{name: "zero timeout", args: []string{"probe", "oc", "--timeout", "0s"}, code: exitUsage, stderr: "error: --timeout must be positive"},
		{name: "bad duration", args: []string{"verify", "b", "--timeout", "soon"}, code: exitUsage, stderr: `error: invalid argument "soon"`},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "kubectl-ocb dev\n"},
		{name: "a valid status connects", args: []string{"status", "overcloud"}, code: exitError,
			stderr: "error: no cluster in this test", connect: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			connected := false
			code := run(context.Background(), tt.args, &stdout, &stderr, func() (*session, error) {
				connected = true
				return nil, errors.New("no cluster in this test")
			})
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if connected != tt.connect {
				t.Errorf("connected: %v, want %v", connected, tt.connect)
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if tt.stderr == "" && stderr.Len() > 0 || !strings.HasPrefix(first, tt.stderr) {
				t.Errorf("stderr %q, want a first line starting %q", stderr.String(), tt.stderr)
			}
			if tt.code == exitUsage && !strings.Contains(stderr.String(), "See 'kubectl ocb") {
				t.Errorf("no help hint in %q", stderr.String())
			}
			if tt.stdout != "" && stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
		})
	}
}

// TestRunOneErrorLine: an error whose text spans lines (a message from the API server or
// a status) is printed as one line.
func TestRunOneErrorLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"status"}, &stdout, &stderr, func() (*session, error) {
		return nil, errors.New("the kubeconfig:\n  no context\tnamed x")
	})
	if code != exitError || stderr.String() != "error: the kubeconfig: no context named x\n" {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
