package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
)

// scheduleSample is the BackupSchedule the demo applies.
const scheduleSample = "config/samples/backup_v1alpha1_backupschedule.yaml"

// scheduleStep applies the sample BackupSchedule, its template's overcloud replaced by the
// local one as the backup's was (backupFromSample), and asks it for one backup at once with
// the run-now annotation: a new value (the time) at each run of the demo, so that a re-run
// starts a new backup. It follows that backup to its end, briefly, then shows the schedule
// and the backups as kubectl does.
func (d *demo) scheduleStep(ctx context.Context) error {
	s, err := d.scheduleFromSample(time.Now())
	if err != nil {
		return err
	}
	tmpl := s.Spec.BackupTemplate.Spec
	if tmpl.OvercloudRef.Name != d.overcloud.Name {
		return fmt.Errorf("%s names Overcloud %s, the demo applied %s", scheduleSample, tmpl.OvercloudRef.Name, d.overcloud.Name)
	}
	if tmpl.Storage.ClaimName != d.backup.Spec.Storage.ClaimName {
		return fmt.Errorf("%s backs up to claim %s, %s to %s: the demo's namespace holds one claim",
			scheduleSample, tmpl.Storage.ClaimName, sample, d.backup.Spec.Storage.ClaimName)
	}

	live := &backupv1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}
	op, err := controllerutil.CreateOrUpdate(ctx, d.c, live, func() error {
		live.Labels, live.Spec = s.Labels, s.Spec
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying BackupSchedule %s: %w", s.Name, err)
	}
	fmt.Printf("   Read %s: %q in %s, keeping %d successes and %d failures, and every backup of the last %s.\n",
		scheduleSample, s.Spec.Schedule, deref(s.Spec.TimeZone), deref(s.Spec.SuccessfulBackupsHistoryLimit),
		deref(s.Spec.FailedBackupsHistoryLimit), deref(s.Spec.KeepWithin).Duration)
	fmt.Printf("   Its backupTemplate names Overcloud %s, the one applied above: nothing else to adapt.\n", tmpl.OvercloudRef.Name)
	fmt.Printf("   backupschedule/%s %s\n", s.Name, op)

	value := time.Now().UTC().Format(time.RFC3339)
	sum := sha256.Sum256([]byte(value))
	child := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{
		Namespace: s.Namespace, Name: s.Name + "-r" + hex.EncodeToString(sum[:4]),
	}}
	got, started, err := d.follow(ctx, child, backupTimeout, true, func(ctx context.Context) error {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
			backupv1alpha1.AnnotationRunNow: value,
		}}})
		if err != nil {
			return err
		}
		if err := d.c.Patch(ctx, live, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("annotating BackupSchedule %s: %w", s.Name, err)
		}
		fmt.Printf("   $ kubectl annotate obs %s %s=%s --overwrite\n", s.Name, backupv1alpha1.AnnotationRunNow, value)
		fmt.Printf("   The schedule creates ocb/%s (one backup per distinct run-now value):\n", child.Name)
		return nil
	})
	if err != nil {
		return err
	}
	if got.Status.Phase != backupv1alpha1.PhaseSucceeded {
		return fmt.Errorf("the schedule's backup %s ended %s: %s", got.Name, got.Status.Phase, got.Status.Message)
	}
	fmt.Printf("   Succeeded %.1fs after the annotation\n", time.Since(started).Seconds())
	for _, args := range [][]string{
		{"-n", namespace, kubectlGet, "obs"},
		{"-n", namespace, kubectlGet, ocbResource},
		{"-n", namespace, kubectlGet, "overcloud"},
	} {
		out, err := d.kubectlRun(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Printf("   $ kubectl %s\n", strings.Join(args, " "))
		printIndented(out)
	}
	return nil
}

// scheduleFromSample is the sample schedule in the demo's namespace, with the demo's labels
// on it and on its backups, and its template's spec made as backupFromSample makes the
// backup's: the cap on the dump's rate (the Overcloud it names is the one applied).
func (d *demo) scheduleFromSample(now time.Time) (*backupv1alpha1.BackupSchedule, error) {
	data, err := os.ReadFile(scheduleSample)
	if err != nil {
		return nil, fmt.Errorf("reading the sample: %w", err)
	}
	s := &backupv1alpha1.BackupSchedule{}
	if err := yaml.UnmarshalStrict(data, s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", scheduleSample, err)
	}
	s.Namespace, s.Labels = namespace, demoLabels()
	tmpl := &s.Spec.BackupTemplate
	asBackup := &backupv1alpha1.OvercloudBackup{ObjectMeta: metav1.ObjectMeta{Name: s.Name}, Spec: tmpl.Spec}
	tmpl.Spec = backupFromSample(asBackup, now).Spec
	if tmpl.Metadata == nil {
		tmpl.Metadata = &backupv1alpha1.BackupTemplateMetadata{}
	}
	if tmpl.Metadata.Labels == nil {
		tmpl.Metadata.Labels = map[string]string{}
	}
	maps.Copy(tmpl.Metadata.Labels, demoLabels())
	return s, nil
}

// deref is *p, or the zero value when nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
