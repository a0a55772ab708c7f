package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sideEffects carries the one rule every reconciler here follows for what a pass tells
// the world (events, metrics):
//   - an action is told when it is taken (a Job or a backup created, a node checked): a
//     pass retried after a failed status patch does not take it again, so it would never
//     be told if it waited for the patch;
//   - a transition (a condition that changed, a backup that ended) is told once the status
//     that records it is written, or found already as the pass wants it: a pass whose
//     patch fails is retried and would tell it twice.
type sideEffects struct {
	recorder  events.EventRecorder
	regarding runtime.Object
	pending   []func()
}

func newSideEffects(recorder events.EventRecorder, regarding runtime.Object) *sideEffects {
	return &sideEffects{recorder: recorder, regarding: regarding}
}

// action tells f at once.
func (s *sideEffects) action(f func()) { f() }

// actionEvent emits a Normal event at once: an action taken.
func (s *sideEffects) actionEvent(reason, note string) { s.emit(false, reason, note) }

// transition tells f once the status is written.
func (s *sideEffects) transition(f func()) { s.pending = append(s.pending, f) }

// transitionEvent emits an event once the status is written.
func (s *sideEffects) transitionEvent(warning bool, reason, note string) {
	s.pending = append(s.pending, func() { s.emit(warning, reason, note) })
}

func (s *sideEffects) emit(warning bool, reason, note string) {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	if s.recorder != nil {
		s.recorder.Eventf(s.regarding, nil, typ, reason, eventAction, "%s", note)
	}
}

// writeStatus patches obj's status from orig when changed (a merge patch carrying
// orig's resourceVersion: a pass that read a stale object gets a conflict instead of
// overwriting whole lists with its partial view), then tells the pending transitions.
func (s *sideEffects) writeStatus(ctx context.Context, c client.Client, obj, orig client.Object, changed bool) error {
	if changed {
		if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("patching the status: %w", err)
		}
	}
	for _, f := range s.pending {
		f()
	}
	s.pending = nil
	return nil
}
