package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestPassResult(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "overcloudbackups"}, "b", errors.New("modified"))
	other := errors.New("the API server is gone")
	later := ctrl.Result{RequeueAfter: time.Minute}
	for _, tc := range []struct {
		name    string
		res     ctrl.Result
		err     error
		want    ctrl.Result
		wantErr error
	}{
		{"no error keeps the result", later, nil, later, nil},
		{"an error drops the result", later, other, ctrl.Result{}, other},
		{"a conflict is a quiet retry", later, conflict, ctrl.Result{RequeueAfter: conflictRetry}, nil},
		{"a wrapped conflict too", ctrl.Result{}, fmt.Errorf("patching the status: %w", conflict), ctrl.Result{RequeueAfter: conflictRetry}, nil},
		{"conflicts joined", ctrl.Result{}, errors.Join(conflict, fmt.Errorf("x: %w", conflict)), ctrl.Result{RequeueAfter: conflictRetry}, nil},
		{"a conflict joined with another error is an error", later, errors.Join(other, conflict), ctrl.Result{}, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := passResult(context.Background(), tc.res, tc.err)
			if res != tc.want {
				t.Errorf("result %+v, want %+v", res, tc.want)
			}
			if (err == nil) != (tc.wantErr == nil) || (err != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
