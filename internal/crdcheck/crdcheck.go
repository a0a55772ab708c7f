// Package crdcheck validates an object against a CustomResourceDefinition the way the
// API server does on create: the OpenAPI schema (types, patterns, lengths, enums) and
// the CEL rules (x-kubernetes-validations), with the API server's own libraries. The CRD
// is the one source of truth; nothing here restates a rule.
package crdcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Validator checks objects of one version of one CRD.
type Validator struct {
	kind       string
	version    string
	schema     apiservervalidation.SchemaValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// New builds the validator of version of the CRD in crdYAML.
func New(crdYAML []byte, version string) (*Validator, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(crdYAML, crd); err != nil {
		return nil, fmt.Errorf("reading the CRD: %w", err)
	}
	var v1 *apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			v1 = v.Schema.OpenAPIV3Schema
		}
	}
	if v1 == nil {
		return nil, fmt.Errorf("the CRD %s has no schema for version %s", crd.Name, version)
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the CRD's schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("the CRD's schema is not structural: %w", err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, fmt.Errorf("compiling the CRD's schema: %w", err)
	}
	return &Validator{
		kind: crd.Spec.Names.Kind, version: version, schema: sv, structural: structural,
		cel: cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// ValidateYAML checks one YAML (or JSON) document as the API server would on create:
// numbers decoded as it decodes them (integers as int64), the schema first, then, when
// the schema holds, the CEL rules (a rule reading a missing required field says nothing
// useful). The error lists every finding with its field path.
func (v *Validator) ValidateYAML(ctx context.Context, doc []byte) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		return err
	}
	if errs := apiservervalidation.ValidateCustomResource(nil, obj, v.schema); len(errs) > 0 {
		return joined(errs)
	}
	errs, _ := v.cel.Validate(ctx, nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return joined(errs)
}

// Kind is the CRD's kind.
func (v *Validator) Kind() string { return v.kind }

func joined(errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}
