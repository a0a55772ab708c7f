package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// conflictRetry is how soon a pass that met a write conflict runs again. The watch event
// of the newer object usually brings the next pass sooner; this is the safety net.
const conflictRetry = 250 * time.Millisecond

// passResult is what a Reconcile returns, from its pass's result and error: one or the
// other, never both (controller-runtime ignores the result when there is an error, and
// warns). A write conflict is routine with concurrent writers or a cache a moment behind:
// it is retried shortly and logged at debug level, not as an error with a stack trace.
// An error that is more than conflicts is returned as it is, for a rate-limited retry.
func passResult(ctx context.Context, res ctrl.Result, err error) (ctrl.Result, error) {
	if err == nil {
		return res, nil
	}
	if onlyConflicts(err) {
		logf.FromContext(ctx).V(1).Info("Write conflict: the pass runs again", "reason", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// onlyConflicts is true when every error err joins is an API conflict.
func onlyConflicts(err error) bool {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if e != nil && !onlyConflicts(e) {
				return false
			}
		}
		return true
	}
	return apierrors.IsConflict(err)
}
