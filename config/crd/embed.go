// Package crd embeds the generated CustomResourceDefinitions (bases/, written by
// `make manifests`), so that a program can hold a file to the same validation as the
// API server's: the `probe -f` command does (internal/crdcheck).
package crd

import _ "embed"

// Overclouds is the Overcloud CRD.
//
//go:embed bases/backup.overcloud.io_overclouds.yaml
var Overclouds []byte
