// Package pacemaker reads what Pacemaker says about the overcloud's database: which nodes are
// online, in standby, in maintenance or unclean, where galera is promoted, and which node holds the
// database VIP.
//
// Parse is pure: it turns the XML of `crm_mon --one-shot --inactive --output-as=xml` (pacemaker 2.x,
// <pacemaker-result>) or of the legacy `crm_mon --as-xml` (<crm_mon version="1.1.x"|"2.x">) into a
// Status, with roles normalised (Master → Promoted, Slave → Unpromoted) and bundle guests
// (galera-bundle-N) mapped to the node that runs their container. Probe runs the command over a
// CommandRunner (internal/remote's SSH runner in production) on the controllers in turn until one
// answers with a usable status.
//
// crm_mon's exit code is not enough: it exits 0 when it cannot read the CIB, so a document without
// <summary>, with an <errors> element or without nodes is an error. The golden files in testdata/
// were produced by Pacemaker's own tools (hack/pacemaker-fixtures.sh).
package pacemaker
