package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

func newProbeCommand(o *options) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe OVERCLOUD [--timeout 60s]",
		Short: "Have the operator probe an Overcloud now, and show the result",
		Long: `Have the operator probe the Overcloud now (Galera on every node, and Pacemaker and
HAProxy when configured), then show what ` + "`kubectl ocb status OVERCLOUD`" + ` shows: the
node table, and the node a backup would use now or why none may be used.

The probe runs in the operator, with its network access and its Secrets, not from this
machine: the plugin sets the Overcloud's backup.overcloud.io/probe annotation to a fresh
value and waits until status.lastProbeRequest answers it. Exit code 0 once the probe is in
status, whatever it found (the Ready condition and the decision say it); 1 when it is not
answered within --timeout.`,
		Example: `  kubectl ocb probe overcloud -n openstack`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			s, err := o.start(args[0])
			if err != nil {
				return err
			}
			return s.probe(cmd.Context(), o, args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "How long to wait for the operator's probe.")
	return cmd
}

func (s *session) probe(ctx context.Context, o *options, name string, timeout time.Duration) error {
	oc := &backupv1alpha1.Overcloud{}
	key := types.NamespacedName{Namespace: s.namespace, Name: name}
	if err := s.c.Get(ctx, key, oc); err != nil {
		return fmt.Errorf("getting Overcloud %s/%s: %w", s.namespace, name, err)
	}
	value := requestValue(s.now())
	if err := s.annotate(ctx, oc, backupv1alpha1.AnnotationProbe, value); err != nil {
		return fmt.Errorf("asking for a probe of Overcloud %s: %w", name, err)
	}
	want := backupv1alpha1.RequestKey(value)
	err := s.pollUntil(ctx, timeout, "the operator to probe Overcloud "+name+" (is the operator running?)",
		func(ctx context.Context) (bool, error) {
			if err := s.c.Get(ctx, key, oc); err != nil {
				return false, fmt.Errorf("getting Overcloud %s/%s: %w", s.namespace, name, err)
			}
			return oc.Status.LastProbeRequest == want, nil
		})
	if err != nil {
		return err
	}
	return s.statusOne(ctx, o, name)
}
