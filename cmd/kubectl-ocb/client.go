package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	backupv1alpha1 "github.com/overcloud-backup/overcloud-backup-operator/api/v1alpha1"
	"github.com/overcloud-backup/overcloud-backup-operator/internal/probe"
)

// outputTable is the default -o: tables and lines for a person.
const outputTable = "table"

// options are the flags every command shares, and how it reaches the cluster.
type options struct {
	out     io.Writer
	output  string
	connect connectFunc
}

// session is a connection to the cluster: a client of the operator's kinds, the
// namespace of -n (or of the kubeconfig's context), and the clock.
type session struct {
	c         client.Client
	namespace string
	now       func() time.Time
	// poll is how often a wait reads the object again.
	poll time.Duration
}

// connectFunc opens a session; tests give one against envtest.
type connectFunc func() (*session, error)

// scheme knows the operator's kinds and the built-in ones.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), backupv1alpha1.AddToScheme(s)); err != nil {
		return nil, err
	}
	return s, nil
}

// connectFlags opens a session from kubectl's connection flags (--kubeconfig,
// --context, -n, --server, --token...), as kubectl resolves them.
func connectFlags(f *genericclioptions.ConfigFlags) (*session, error) {
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig: %w", err)
	}
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig's namespace: %w", err)
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("a client of the cluster: %w", err)
	}
	return &session{c: c, namespace: ns, now: time.Now, poll: time.Second}, nil
}

// start checks -o and the names given as arguments, then connects: bad usage is
// reported before anything is asked of the cluster.
func (o *options) start(names ...string) (*session, error) {
	switch o.output {
	case outputTable, "json", "yaml":
	default:
		return nil, usagef("-o %q: want table, json or yaml", clip(o.output, 32))
	}
	for _, n := range names {
		if err := validName(n); err != nil {
			return nil, err
		}
	}
	return o.connect()
}

// validName refuses a name the API server would refuse as an object's name, so that a
// hostile argument never reaches a request path or a message unchecked.
func validName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return usagef("%q is not a valid name: %s", clip(name, 64), strings.Join(errs, "; "))
	}
	return nil
}

// printObjects prints objects as -o json or yaml asks: as a v1 List when asList (as
// kubectl get prints several), else the one object. Each carries its apiVersion and kind.
func printObjects(w io.Writer, format string, scheme *runtime.Scheme, asList bool, objs ...client.Object) error {
	items := make([]any, 0, len(objs))
	for _, obj := range objs {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			return err
		}
		obj = obj.DeepCopyObject().(client.Object)
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		obj.SetManagedFields(nil)
		items = append(items, obj)
	}
	var v any = map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{}, "items": items}
	if !asList && len(items) == 1 {
		v = items[0]
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "    ")
		return enc.Encode(v)
	default:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
}

// clip makes text from a status or the API server safe and short on a terminal: control
// characters become spaces, and a long text ends in "...".
func clip(s string, n int) string { return probe.Clip(s, n) }

// pollUntil calls cond every s.poll until it is done or fails, at most timeout; the
// error on timeout says what was awaited.
func (s *session) pollUntil(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		done, err := cond(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		case err != nil:
			return err
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		case <-t.C:
		}
	}
}
