// Package haproxy reads what HAProxy on the database VIP knows about the Galera nodes:
// each server's state and current sessions (the stats CSV, from the stats page's ";csv"
// export or the stats socket's "show stat") and the stick table that pins every client
// to one node ("show table <backend>").
//
// On a TripleO overcloud the "mysql" proxy sends all SQL traffic to ONE node: every
// server is a "backup" server, so HAProxy uses the first usable one, and "stick on dst"
// records it in the stick table, so the choice survives the recovery of a node that had
// failed. The stick entry is therefore the strongest signal of the active node, confirmed
// by that server's current sessions (scur).
//
// The stats page shows no server addresses and no stick table: the activity it shows is
// only the sessions. The stats socket shows both, but at TripleO's default socket level
// ("user") HAProxy withholds the stick table's entries (Table.Hidden); reading them needs
// "level operator" or "level admin".
//
// The parsers (ParseStatCSV, ParseTable) and the decision (Active, NewSnapshot) are pure:
// no I/O, safe on any input (malformed input is an error, never a panic). The fetchers
// (FetchHTTP, FetchSocket) do the I/O, each bounded by its context. The files under
// testdata/ were recorded from a real HAProxy by hack/haproxy-fixtures.sh.
package haproxy
