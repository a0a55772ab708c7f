// Package genmanifest holds what the generators of the install's other forms (hack/helmchart:
// the Helm charts; hack/olmbundle: the OLM bundle) share: rendering config/ with kustomize,
// reading an object's identity, and keeping a directory of generated files in step with
// what the generator makes.
package genmanifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is a decoded manifest.
type Object = map[string]any

// Build runs `kustomize build dir` and decodes its objects.
func Build(kustomize, dir string) ([]Object, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kustomize, "build", dir) //nolint:gosec // G204: the repo's kustomize, our directory
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w\n%s", dir, err, stderr.String())
	}
	return Decode(out)
}

// Decode reads a stream of YAML documents; empty documents are dropped.
func Decode(b []byte) ([]Object, error) {
	var objs []Object
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		o := Object{}
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding: %w", err)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// Kind is an object's kind.
func Kind(o Object) string { s, _ := o["kind"].(string); return s }

// APIVersion is an object's apiVersion.
func APIVersion(o Object) string { s, _ := o["apiVersion"].(string); return s }

// Name is metadata.name.
func Name(o Object) string { s, _ := Meta(o)["name"].(string); return s }

// Namespace is metadata.namespace.
func Namespace(o Object) string { s, _ := Meta(o)["namespace"].(string); return s }

// Key identifies an object within one build.
func Key(o Object) string { return Kind(o) + " " + Namespace(o) + "/" + Name(o) }

// Meta is an object's metadata (nil when it has none).
func Meta(o Object) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}

// Stale lists the files under root that differ from files, are missing, or are among have
// (the generated files there now, relative to root) but no longer generated.
func Stale(root string, have []string, files map[string][]byte) []string {
	var stale []string
	for _, p := range have {
		if _, ok := files[p]; !ok {
			stale = append(stale, p+" (no longer generated)")
		}
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, p)) //nolint:gosec // G304: a path the generator makes
		if err != nil || !bytes.Equal(got, want) {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	return stale
}

// Write replaces the generated files under root: those of have no longer generated are
// removed, files are written (directories 0755, files 0644: read by all).
func Write(root string, have []string, files map[string][]byte) error {
	for _, p := range have {
		if _, ok := files[p]; !ok {
			if err := os.Remove(filepath.Join(root, p)); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
		}
	}
	for p, b := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil { //nolint:gosec // G301: generated sources, read by all
			return fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil { //nolint:gosec // G306: a generated source, read by all
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// Diff lists the paths under path where a and b differ, with both values: maps key by key,
// lists of one length item by item, and other values as YAML reads them (an int and the
// float64 of a decoded stream are the same number).
func Diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		out := make([]string, 0, len(sorted))
		for _, k := range sorted {
			out = append(out, Diff(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		out := make([]string, 0, len(as))
		for i := range as {
			out = append(out, Diff(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) || reflect.DeepEqual(asYAML(a), asYAML(b)) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %v | %v", path, a, b)}
}

// asYAML is v as a YAML round trip reads it back (v itself when it cannot be written).
func asYAML(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}
