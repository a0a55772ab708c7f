package main

// minKubeVersion against the CRDs' CEL rules: an API server compiles a new CRD's rules with
// the CEL libraries of its previous minor version (k8s.io/apiserver's
// DefaultCompatibilityVersion, kept one minor behind for rollbacks). So the oldest API server
// that accepts the bundle's CRDs is the one whose previous minor compiles every rule: the
// rules must compile with the libraries of minKubeVersion-1 and fail with those of
// minKubeVersion-2, or minKubeVersion is not the oldest.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"
)

// celErrors compiles every x-kubernetes-validations rule of the bundle's CRDs as an API
// server of version server compiles a new CRD's rules, and returns the failures.
func celErrors(t *testing.T, server *version.Version) (errs []string, rules int) {
	t.Helper()
	compat := version.MajorMinor(server.Major(), server.Minor()-1)
	envSet := environment.MustBaseEnvSet(compat)
	files, err := filepath.Glob(filepath.Join(bundleDir, manifestsDir, "backup.overcloud.io_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in the bundle (%v)", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // G304: our bundle
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				t.Fatal(err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				t.Fatalf("%s %s: %v", crd.Name, v.Name, err)
			}
			var walk func(s *structuralschema.Structural, root bool, path string)
			walk = func(s *structuralschema.Structural, root bool, path string) {
				if len(s.XValidations) > 0 {
					rules += len(s.XValidations)
					results, err := cel.Compile(s, model.SchemaDeclType(s, root), celconfig.PerCallLimit, envSet, cel.NewExpressionsEnvLoader())
					if err != nil {
						errs = append(errs, fmt.Sprintf("%s %s: %v", crd.Name, path, err))
					}
					for i, r := range results {
						if r.Error != nil {
							errs = append(errs, fmt.Sprintf("%s %s rule %q: %s", crd.Name, path, s.XValidations[i].Rule, r.Error.Detail))
						}
						if r.MessageExpressionError != nil {
							errs = append(errs, fmt.Sprintf("%s %s messageExpression: %s", crd.Name, path, r.MessageExpressionError.Detail))
						}
					}
				}
				names := make([]string, 0, len(s.Properties))
				for k := range s.Properties {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					p := s.Properties[k]
					walk(&p, false, path+"."+k)
				}
				if s.Items != nil {
					walk(s.Items, false, path+"[]")
				}
				if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
					walk(s.AdditionalProperties.Structural, false, path+"{}")
				}
			}
			walk(s, true, "")
		}
	}
	return errs, rules
}

func TestMinKubeVersion(t *testing.T) {
	minVer := version.MustParseGeneric(minKubeVersion)
	errs, rules := celErrors(t, minVer)
	if rules == 0 {
		t.Fatal("no CEL rules found: the test would prove nothing")
	}
	for _, e := range errs {
		t.Errorf("Kubernetes %s would refuse: %s", minKubeVersion, e)
	}
	older := version.MajorMinor(minVer.Major(), minVer.Minor()-1)
	olderErrs, _ := celErrors(t, older)
	if len(olderErrs) == 0 {
		t.Errorf("Kubernetes %s accepts every rule too: minKubeVersion %s is not the oldest", older, minKubeVersion)
	}
	t.Logf("%d rules compile for Kubernetes %s; %s refuses %d, e.g. %s", rules, minKubeVersion, older, len(olderErrs),
		strings.Join(olderErrs[:min(1, len(olderErrs))], ""))
}
