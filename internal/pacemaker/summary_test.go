package pacemaker

import (
	"fmt"
	"strings"
)

// nodeSummary renders a node compactly for golden comparisons:
// "name:type[@host]:flag,flag".
func nodeSummary(n Node) string {
	t := string(n.Type)
	if n.Host != "" {
		t += "@" + n.Host
	}
	var flags []string
	if n.Online {
		flags = append(flags, "online")
	} else {
		flags = append(flags, "offline")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{
		{n.Standby, "standby"}, {n.StandbyOnFail, "standby_onfail"}, {n.Maintenance, "maintenance"},
		{n.Unclean, "unclean"}, {n.Shutdown, "shutdown"}, {n.Pending, "pending"}, {n.DC, "dc"},
	} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	return fmt.Sprintf("%s:%s:%s", n.Name, t, strings.Join(flags, ","))
}

// galeraSummary renders galera on every member and remote node, then instances without a host:
// "host=Role" with "!" failed, "-" inactive, "~" unmanaged, "#" blocked.
func galeraSummary(s *Status) string {
	var parts []string
	inst := func(g GaleraInstance) string {
		out := string(g.Role)
		if g.Failed {
			out += "!"
		}
		if !g.Active && g.Role != RoleStopped {
			out += "-"
		}
		if !g.Managed {
			out += "~"
		}
		if g.Blocked {
			out += "#"
		}
		return out
	}
	for _, n := range s.Nodes {
		if n.Type != NodeMember && n.Type != NodeRemote {
			continue
		}
		parts = append(parts, n.Name+"="+inst(s.GaleraOn(n.Name)))
	}
	for _, g := range s.Galera {
		if g.Host == "" {
			parts = append(parts, "?"+g.Guest+"="+inst(g))
		}
	}
	return strings.Join(parts, " ")
}

func vipSummary(s *Status) string {
	if s.VIP == nil {
		return "<none>"
	}
	if s.VIP.Node == "" {
		return s.VIP.Resource + " stopped"
	}
	return s.VIP.Resource + "@" + s.VIP.Node
}
