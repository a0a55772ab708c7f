package pacemaker

import (
	"fmt"
	"strings"
	"testing"
)

// manyNodes is a crm_mon document of n cluster nodes in the shape Pacemaker 2.1 prints
// (clone-healthy.xml's elements and attributes), n/3 of them members and the rest pacemaker
// remote nodes whose connections run on the members, with galera promoted on every node.
// No real cluster has 10,000 nodes (Pacemaker supports 32 members plus remote nodes); the
// size is there to show the cost per node stays flat.
func manyNodes(n int) []byte {
	var b strings.Builder
	b.WriteString(`<pacemaker-result api-version="2.25" request="crm_mon --one-shot --inactive --output-as=xml">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5" name="node-0" id="1" with_quorum="true" mixed_version="false"/>
    <cluster_options stonith-enabled="true" maintenance-mode="false" stop-all-resources="false"/>
  </summary>
  <nodes>
`)
	members := max(1, n/3)
	for i := range n {
		typ, id := "member", fmt.Sprint(i+1)
		if i >= members {
			typ, id = "remote", fmt.Sprintf("node-%d", i)
		}
		fmt.Fprintf(&b, `    <node name="node-%d" id="%s" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" is_dc="%v" type="%s"/>`+"\n",
			i, id, i == 0, typ)
	}
	b.WriteString("  </nodes>\n  <resources>\n")
	for i := members; i < n; i++ {
		fmt.Fprintf(&b, `    <resource id="node-%d" resource_agent="ocf:pacemaker:remote" role="Started" active="true" blocked="false" managed="true" failed="false" nodes_running_on="1">
      <node name="node-%d" id="%d" cached="true"/>
    </resource>`+"\n", i, i%members, i%members+1)
	}
	b.WriteString(`    <clone id="galera-clone" multi_state="true" unique="false" managed="true" disabled="false" failed="false">` + "\n")
	for i := range n {
		fmt.Fprintf(&b, `      <resource id="galera" resource_agent="ocf:heartbeat:galera" role="Promoted" active="true" blocked="false" managed="true" failed="false" nodes_running_on="1">
        <node name="node-%d" id="%d" cached="true"/>
      </resource>`+"\n", i, i+1)
	}
	b.WriteString(`    </clone>
    <resource id="ip-10.77.0.10" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" blocked="false" managed="true" failed="false" nodes_running_on="1">
      <node name="node-0" id="1" cached="true"/>
    </resource>
  </resources>
</pacemaker-result>
`)
	return []byte(b.String())
}

// TestManyNodes: the generated document parses to what it says (every node, its type, each
// remote node's connection host, galera Promoted everywhere), so the benchmark measures a
// parse that works.
func TestManyNodes(t *testing.T) {
	const n = 30
	st, err := Parse(manyNodes(n), Options{VIP: "10.77.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != n || len(st.Galera) != n || st.VIP == nil || st.VIP.Node != "node-0" {
		t.Fatalf("%d nodes, %d instances, VIP %+v; want %d, %d, on node-0", len(st.Nodes), len(st.Galera), st.VIP, n, n)
	}
	for i, node := range st.Nodes {
		want := NodeMember
		conn := ""
		if i >= n/3 {
			want, conn = NodeRemote, fmt.Sprintf("node-%d", i%(n/3))
		}
		if node.Type != want || node.Connection != conn || !st.GaleraOn(node.Name).Promoted() {
			t.Errorf("%s: type %s, connection %q, galera %+v; want %s, %q, Promoted", node.Name, node.Type, node.Connection, st.GaleraOn(node.Name), want, conn)
		}
	}
}

// BenchmarkParseManyNodes: Parse, then galera's state on every node (what the probe reads
// for each node), at 1,000 and 10,000 nodes. Linear: the 10,000 case costs about ten times
// the 1,000 case per op (ns/node is flat).
func BenchmarkParseManyNodes(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		doc := manyNodes(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, err := Parse(doc, Options{VIP: "10.77.0.10"})
				if err != nil {
					b.Fatal(err)
				}
				for _, node := range st.Nodes {
					_ = st.GaleraOn(node.Name)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/node")
		})
	}
}
