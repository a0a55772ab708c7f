package pacemaker

import "encoding/xml"

// The shapes below follow crm_mon's XML. Pacemaker 2.x wraps it in <pacemaker-result> and adds a
// <status> element; the legacy format (crm_mon --as-xml, pacemaker 1.1 and 2.x) has <crm_mon> as
// its root. Both share <summary>, <nodes> and <resources>. Unknown elements and attributes are
// ignored, so newer schemas keep parsing.

type xmlDocument struct {
	XMLName    xml.Name
	APIVersion string       `xml:"api-version,attr"`
	Version    string       `xml:"version,attr"`
	Summary    *xmlSummary  `xml:"summary"`
	Nodes      []xmlNode    `xml:"nodes>node"`
	Resources  xmlResources `xml:"resources"`
	Status     *xmlStatus   `xml:"status"`
	Errors     []string     `xml:"errors>error"`
}

type xmlStatus struct {
	Code    string   `xml:"code,attr"`
	Message string   `xml:"message,attr"`
	Errors  []string `xml:"errors>error"`
}

type xmlSummary struct {
	Stack struct {
		Type string `xml:"type,attr"`
	} `xml:"stack"`
	CurrentDC struct {
		Present    string `xml:"present,attr"`
		Name       string `xml:"name,attr"`
		Version    string `xml:"version,attr"`
		WithQuorum string `xml:"with_quorum,attr"`
	} `xml:"current_dc"`
	ClusterOptions struct {
		MaintenanceMode  string `xml:"maintenance-mode,attr"`
		StonithEnabled   string `xml:"stonith-enabled,attr"`
		StopAllResources string `xml:"stop-all-resources,attr"`
	} `xml:"cluster_options"`
}

type xmlNode struct {
	Name           string `xml:"name,attr"`
	ID             string `xml:"id,attr"`
	Online         string `xml:"online,attr"`
	Standby        string `xml:"standby,attr"`
	StandbyOnFail  string `xml:"standby_onfail,attr"`
	Maintenance    string `xml:"maintenance,attr"`
	Pending        string `xml:"pending,attr"`
	Unclean        string `xml:"unclean,attr"`
	Shutdown       string `xml:"shutdown,attr"`
	ExpectedUp     string `xml:"expected_up,attr"`
	IsDC           string `xml:"is_dc,attr"`
	Type           string `xml:"type,attr"`
	IDAsResource   string `xml:"id_as_resource,attr"`
	ResourcesCount string `xml:"resources_running,attr"`
}

type xmlResources struct {
	Resources []xmlResource `xml:"resource"`
	Groups    []xmlGroup    `xml:"group"`
	Clones    []xmlClone    `xml:"clone"`
	Bundles   []xmlBundle   `xml:"bundle"`
}

type xmlGroup struct {
	ID        string        `xml:"id,attr"`
	Resources []xmlResource `xml:"resource"`
}

type xmlClone struct {
	ID         string        `xml:"id,attr"`
	MultiState string        `xml:"multi_state,attr"`
	Managed    string        `xml:"managed,attr"`
	Failed     string        `xml:"failed,attr"`
	Resources  []xmlResource `xml:"resource"`
	Groups     []xmlGroup    `xml:"group"`
}

type xmlBundle struct {
	ID       string       `xml:"id,attr"`
	Type     string       `xml:"type,attr"`
	Managed  string       `xml:"managed,attr"`
	Replicas []xmlReplica `xml:"replica"`
}

type xmlReplica struct {
	ID        string        `xml:"id,attr"`
	Resources []xmlResource `xml:"resource"`
}

type xmlResource struct {
	ID             string       `xml:"id,attr"`
	Agent          string       `xml:"resource_agent,attr"`
	Role           string       `xml:"role,attr"`
	TargetRole     string       `xml:"target_role,attr"`
	Active         string       `xml:"active,attr"`
	Orphaned       string       `xml:"orphaned,attr"`
	Blocked        string       `xml:"blocked,attr"`
	Managed        string       `xml:"managed,attr"`
	Failed         string       `xml:"failed,attr"`
	FailureIgnored string       `xml:"failure_ignored,attr"`
	Nodes          []xmlResNode `xml:"node"`
}

type xmlResNode struct {
	Name string `xml:"name,attr"`
}
