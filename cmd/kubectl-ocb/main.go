// Command kubectl-ocb is the kubectl plugin of overcloud-backup-operator: installed on the
// PATH as kubectl-ocb, it runs as `kubectl ocb status|backup|probe|restore plan|verify`.
// It only reads and writes the operator's objects through the API server, with the
// user's own rights (kubectl's connection flags): the operator does the work, and no
// Secret is ever read.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// version is the plugin's version, set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, as kubectl's: 0 success; 1 an error, or a backup, drill or restore plan
// that failed; 2 bad usage (an unknown flag, a missing or invalid argument).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is bad usage: main exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// run runs the plugin with the given arguments and returns its exit code. connect, when
// not nil, replaces the connection to the cluster of kubectl's flags (tests).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, connect connectFunc) int {
	root := newRootCommand(stdout, connect)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// One line, as kubectl prints its errors: text from the API server or a status is
	// never allowed to break it into several.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintln(stderr, "error: "+msg)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "See '%s -h' for help and examples.\n", commandPath(root, args))
		return exitUsage
	}
	return exitError
}

// commandPath is the command the arguments name ("kubectl ocb backup"), for the hint
// after a usage error.
func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.CommandPath()
	}
	return c.CommandPath()
}

// newRootCommand is `kubectl ocb` with kubectl's connection flags and its subcommands.
func newRootCommand(stdout io.Writer, connect connectFunc) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	o := &options{out: stdout, output: outputTable}
	if connect == nil {
		connect = func() (*session, error) { return connectFlags(flags) }
	}
	o.connect = connect
	root := &cobra.Command{
		// kubectl runs the plugin as kubectl-ocb; its help reads as `kubectl ocb`.
		Use:         "ocb",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl ocb"},
		Short:       "Status, backups, probes, restore plans and restore drills of overclouds (overcloud-backup-operator)",
		Long: `kubectl ocb drives overcloud-backup-operator through the API server: it reads the
Overclouds, OvercloudBackups and BackupSchedules of a namespace, asks the operator for a
backup, a probe or a restore drill now (with the annotations the operator answers), and
asks for a restore plan. The operator does the work with its own network access and
Secrets; the plugin never reads a Secret.

Exit codes: 0 success; 1 an error, or a backup, drill or plan that failed; 2 bad usage.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// An unknown subcommand is bad usage, not help text with exit code 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("a command is required: status, backup, probe, restore plan, verify or version")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&o.output, "output", "o", outputTable,
		"Output format: table (for people), json or yaml (the objects).")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newStatusCommand(o), newBackupCommand(o), newProbeCommand(o),
		newRestoreCommand(o), newVerifyCommand(o), newVersionCommand(o),
	)
	wrapArgs(root)
	return root
}

// wrapArgs makes every argument error of the command and its children (an unknown
// command, a missing or extra argument) a usage error.
func wrapArgs(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, child := range c.Commands() {
		wrapArgs(child)
	}
}

func newVersionCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(o.out, "kubectl-ocb %s\n", version)
			return err
		},
	}
}
