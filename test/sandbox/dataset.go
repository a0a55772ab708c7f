package sandbox

// An OpenStack-like dataset for the benchmarks: nova instances (UUIDs, timestamps, NULLs,
// JSON-ish metadata, cloud-init user data), nova instance_extra (serialised nova objects),
// instance faults (tracebacks), neutron ports and keystone credentials (encrypted BLOBs),
// with the secondary indexes nova and neutron have. Rows are generated server side
// (INSERT ... SELECT from MariaDB's SEQUENCE engine) in chunks of about 8 MB, so no Galera
// writeset comes near the 64 MB a real cluster is tuned for, and mostly deterministically
// (hashes of the row number) so that every run compresses alike: about 3x with zstd, like
// a real nova dump, neither random bytes nor repeats.

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DatasetVersion changes whenever the generator below changes, so that an old dataset is
// made again instead of reused.
const DatasetVersion = 1

// Dataset is a generated schema, as EnsureDataset found or made it.
type Dataset struct {
	// Schema is the database holding it.
	Schema string
	// SizeMB is the size asked for; Bytes is InnoDB's data + index length once made.
	SizeMB int
	Bytes  int64
	// Instances is the number of nova instances; Rows counts the rows of every table.
	Instances int64
	Rows      int64
	// Reused says the dataset was already there; Took is how long making it took.
	Reused bool
	Took   time.Duration
}

// datasetTable is one table of the dataset: its DDL, how many rows it gets per instance,
// and the SELECT list producing a row from s.seq (1-based, per table).
type datasetTable struct {
	name       string
	ddl        string
	perInst    float64
	rowBytes   int // average row size, for the chunk size only
	columns    string
	selectList string
}

// Instances per MiB of InnoDB data (data + indexes), measured on MariaDB 10.11: about 10.5 KiB
// per instance with its extra, faults, ports and credentials.
const instancesPerMB = 97

// sqlNull is SQL's NULL, a column value.
const sqlNull = "NULL"

// chunkBytes bounds one INSERT ... SELECT (one Galera writeset).
const chunkBytes = 8 << 20

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// uuidExpr is a version-4-looking UUID from a 32-hex-digit expression.
func uuidExpr(hex string) string {
	return fmt.Sprintf("CONCAT(SUBSTR(%[1]s,1,8),'-',SUBSTR(%[1]s,9,4),'-4',SUBSTR(%[1]s,14,3),'-',"+
		"ELT(1+CONV(SUBSTR(%[1]s,17,1),16,10)%%4,'8','9','a','b'),SUBSTR(%[1]s,18,3),'-',SUBSTR(%[1]s,21,12))", hex)
}

// h is a 32-hex-digit hash of a tag and an integer expression: deterministic per row.
func h(tag, n string) string { return fmt.Sprintf("MD5(CONCAT('%s',%s))", tag, n) }

// r is a deterministic pseudo-random integer in [0, mod) for a tag and the row number.
func r(tag string, mod int) string { return fmt.Sprintf("(CRC32(CONCAT('%s',s.seq)) %% %d)", tag, mod) }

// created is the instance's creation time: spread over two years, in row order.
const created = "(TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (s.seq * 900 + CRC32(CONCAT('t',s.seq)) % 900) SECOND)"

func datasetTables() []datasetTable {
	flavor := "1+" + r("f", 6)
	mem := "ELT(" + flavor + ",512,2048,4096,8192,16384,32768)"
	vcpus := "ELT(" + flavor + ",1,1,2,4,8,16)"
	disk := "ELT(" + flavor + ",1,20,40,80,160,320)"
	fname := "ELT(" + flavor + ",'m1.tiny','m1.small','m1.medium','m1.large','m1.xlarge','m1.2xlarge')"
	role := "ELT(1+" + r("role", 6) + ",'web','db','worker','cache','lb','batch')"
	project := h("project", r("p", 60))
	user := h("user", r("u", 500))
	host := "CONCAT('compute-',LPAD(" + r("h", 120) + ",3,'0'),'.localdomain')"
	deleted := "(s.seq % 4 = 0)"
	instUUID := uuidExpr(h("instance", "s.seq"))
	// The instance that rows of the other tables belong to (instances are 1..n).
	instOf := func(tag string) string { return uuidExpr(h("instance", "1+CRC32(CONCAT('"+tag+"',s.seq)) % @n")) }

	return []datasetTable{{
		name: "instances", perInst: 1, rowBytes: 1900,
		ddl: `CREATE TABLE instances (
  id INT NOT NULL AUTO_INCREMENT, created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL,
  uuid VARCHAR(36) NOT NULL, user_id VARCHAR(255) NULL, project_id VARCHAR(255) NULL, image_ref VARCHAR(255) NULL,
  kernel_id VARCHAR(255) NULL, ramdisk_id VARCHAR(255) NULL, launch_index INT NULL, key_name VARCHAR(255) NULL,
  key_data MEDIUMTEXT NULL, power_state INT NULL, vm_state VARCHAR(255) NULL, task_state VARCHAR(255) NULL,
  memory_mb INT NULL, vcpus INT NULL, root_gb INT NULL, ephemeral_gb INT NULL, hostname VARCHAR(255) NULL,
  host VARCHAR(255) NULL, node VARCHAR(255) NULL, instance_type_id INT NULL, user_data MEDIUMTEXT NULL,
  reservation_id VARCHAR(255) NULL, launched_at DATETIME NULL, terminated_at DATETIME NULL,
  availability_zone VARCHAR(255) NULL, display_name VARCHAR(255) NULL, display_description TEXT NULL,
  locked TINYINT(1) NULL, os_type VARCHAR(255) NULL, architecture VARCHAR(255) NULL, vm_mode VARCHAR(255) NULL,
  root_device_name VARCHAR(255) NULL, config_drive VARCHAR(255) NULL, cleaned INT NULL, metadata TEXT NULL,
  system_metadata TEXT NULL, deleted INT NULL,
  PRIMARY KEY (id), UNIQUE KEY uniq_instances0uuid (uuid),
  KEY instances_project_id_deleted_idx (project_id, deleted), KEY instances_host_node_deleted_idx (host, node, deleted),
  KEY instances_deleted_created_at_idx (deleted, created_at), KEY instances_reservation_id_idx (reservation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3`,
		columns: "created_at, updated_at, deleted_at, uuid, user_id, project_id, image_ref, kernel_id, ramdisk_id, " +
			"launch_index, key_name, key_data, power_state, vm_state, task_state, memory_mb, vcpus, root_gb, ephemeral_gb, " +
			"hostname, host, node, instance_type_id, user_data, reservation_id, launched_at, terminated_at, availability_zone, " +
			"display_name, display_description, locked, os_type, architecture, vm_mode, root_device_name, config_drive, " +
			"cleaned, metadata, system_metadata, deleted",
		selectList: strings.Join([]string{
			created,
			created + " + INTERVAL " + r("up", 86400) + " SECOND",
			"IF(" + deleted + ", " + created + " + INTERVAL 3 DAY, NULL)",
			instUUID, user, project,
			uuidExpr(h("image", r("i", 40))), "''", "''", "0",
			"CONCAT('key-', " + r("u", 500) + ")",
			// An RSA public key per user: 500 of them, so they repeat like real keys do.
			"CONCAT('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ', REPLACE(CONCAT(" +
				"TO_BASE64(UNHEX(SHA2(CONCAT('k1'," + r("u", 500) + "),512))), TO_BASE64(UNHEX(SHA2(CONCAT('k2'," + r("u", 500) + "),512))), " +
				"TO_BASE64(UNHEX(SHA2(CONCAT('k3'," + r("u", 500) + "),512))), " +
				"TO_BASE64(UNHEX(SHA2(CONCAT('k4'," + r("u", 500) + "),512)))), '\\n', ''), " +
				"' Generated-by-Nova')",
			"IF(" + deleted + ", 0, ELT(1+" + r("ps", 3) + ",1,1,4))",
			"IF(" + deleted + ", 'deleted', ELT(1+" + r("ps", 3) + ",'active','active','stopped'))",
			"IF(" + r("ts", 50) + " = 0, 'rebooting', NULL)",
			mem, vcpus, disk, "0",
			"CONCAT(" + role + ",'-',s.seq)", host, host, flavor,
			// cloud-init user data on two thirds of the instances: a shared template with a
			// per-instance token and a gzip+base64 payload (as cloud-init's write_files
			// takes it), base64 again as nova stores it.
			"IF(s.seq % 3 <> 0, TO_BASE64(CONCAT('#cloud-config\\npackage_update: true\\npackages:\\n  - nginx\\n  - python3\\n" +
				"write_files:\\n  - path: /etc/app/config.yaml\\n    permissions: \\'0600\\'\\n    content: |\\n      " +
				"token: ', " + h("tok", "s.seq") + ", '\\n      region: regionOne\\n      " +
				"endpoint: https://overcloud.example.com:13000/v3\\n  - path: /etc/app/bundle.tgz\\n    encoding: gz+b64\\n    content: ', " +
				"TO_BASE64(RANDOM_BYTES(300 + " + r("ud", 700) + ")), '\\nruncmd:\\n  - [ systemctl, enable, --now, nginx ]\\n" +
				"  - [ sh, -c, \"echo instance ', s.seq, ' ready\" ]\\n')), NULL)",
			"CONCAT('r-', LEFT(" + h("res", "s.seq") + ", 8))",
			created + " + INTERVAL 40 SECOND",
			"IF(" + deleted + ", " + created + " + INTERVAL 3 DAY, NULL)",
			"ELT(1+" + r("az", 3) + ",'nova','az-1','az-2')",
			"CONCAT(" + role + ",'-',s.seq)",
			"IF(" + r("dd", 5) + " = 0, NULL, CONCAT(" + role + ", ' server ', s.seq, ' of project ', LEFT(" + project + ", 8)))",
			"0", "IF(" + r("os", 10) + " = 0, NULL, 'linux')", "'x86_64'", "'hvm'", "'/dev/vda'", "''", "IF(" + deleted + ", 1, 0)",
			"CONCAT('{\"role\": \"', " + role + ", '\", \"owner\": \"team-', " + r("team", 40) + ", '\", \"ha\": \"', " +
				"IF(" + r("ha", 2) + ", 'true', 'false'), '\", \"build\": \"', LEFT(" + h("b", "s.seq") + ", 16), '\"}')",
			"CONCAT('{\"image_base_image_ref\": \"', " + uuidExpr(h("image", r("i", 40))) + ", '\", \"image_disk_format\": \"qcow2\", " +
				"\"image_container_format\": \"bare\", \"image_min_disk\": \"', " + disk + ", '\", \"image_min_ram\": \"0\", " +
				"\"image_hw_rng_model\": \"virtio\", \"image_os_distro\": \"', ELT(1+" + r("i", 4) + ",'rhel','centos','ubuntu','fedora'), " +
				"'\", \"owner_user_name\": \"user-', " + r("u", 500) + ", '\", \"owner_project_name\": \"project-', " + r("p", 60) + ", " +
				"'\", \"boot_roles\": \"member,reader\", \"clean_attempts\": \"0\"}')",
			"IF(" + deleted + ", s.seq, 0)",
		}, ",\n  "),
	}, {
		name: "instance_extra", perInst: 1, rowBytes: 2600,
		ddl: `CREATE TABLE instance_extra (
  id INT NOT NULL AUTO_INCREMENT, created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL,
  deleted INT NULL, instance_uuid VARCHAR(36) NOT NULL, numa_topology TEXT NULL, pci_requests TEXT NULL,
  flavor TEXT NULL, vcpu_model TEXT NULL, migration_context TEXT NULL, keypairs TEXT NULL, device_metadata TEXT NULL,
  trusted_certs TEXT NULL, vpmems TEXT NULL, resources TEXT NULL,
  PRIMARY KEY (id), KEY instance_extra_idx (instance_uuid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3`,
		columns: "created_at, updated_at, deleted_at, deleted, instance_uuid, numa_topology, pci_requests, flavor, vcpu_model, " +
			"migration_context, keypairs, device_metadata, trusted_certs, vpmems, resources",
		selectList: strings.Join([]string{
			created, sqlNull, sqlNull, "0", instUUID,
			"IF(" + r("numa", 4) + " = 0, CONCAT('{\"nova_object.name\": \"InstanceNUMATopology\", \"nova_object.namespace\": \"nova\", " +
				"\"nova_object.version\": \"1.3\", \"nova_object.data\": {\"cells\": [{\"nova_object.name\": \"InstanceNUMACell\", " +
				"\"nova_object.data\": {\"id\": 0, \"cpuset\": [], \"pcpuset\": [0, 1], \"memory\": ', " + mem + ", ', " +
				"\"pagesize\": 2048, \"cpu_policy\": \"dedicated\"}}], \"emulator_threads_policy\": null}}'), NULL)",
			"'[]'",
			"CONCAT('{\"cur\": {\"nova_object.name\": \"Flavor\", \"nova_object.namespace\": \"nova\", \"nova_object.version\": \"1.2\", " +
				"\"nova_object.data\": {\"id\": ', " + flavor + ", ', \"name\": \"', " + fname + ", '\", \"memory_mb\": ', " + mem + ", " +
				"', \"vcpus\": ', " + vcpus + ", ', \"root_gb\": ', " + disk + ", ', \"ephemeral_gb\": 0, \"flavorid\": \"', " + flavor + ", " +
				"'\", \"swap\": 0, \"rxtx_factor\": 1.0, \"vcpu_weight\": 0, \"disabled\": false, \"is_public\": true, " +
				"\"extra_specs\": {\"hw:cpu_policy\": \"shared\", \"hw:mem_page_size\": \"any\", \"hw_rng:allowed\": \"True\"}, " +
				"\"description\": null, \"created_at\": \"2023-11-02T10:12:44Z\", \"updated_at\": null, \"deleted_at\": null, " +
				"\"deleted\": false}, \"nova_object.changes\": [\"extra_specs\"]}, \"old\": null, \"new\": null}')",
			"CONCAT('{\"nova_object.name\": \"VirtCPUModel\", \"nova_object.namespace\": \"nova\", \"nova_object.version\": \"1.0\", " +
				"\"nova_object.data\": {\"arch\": \"x86_64\", \"vendor\": \"AMD\", \"topology\": {\"nova_object.name\": \"VirtCPUTopology\", " +
				"\"nova_object.data\": {\"sockets\": ', " + vcpus + ", ', \"cores\": 1, \"threads\": 1}}, \"features\": [" +
				"\"sse4.2\", \"avx2\", \"aes\", \"xsave\", \"rdrand\", \"fma\", \"bmi2\", \"pcid\", \"x2apic\", \"svm\"], " +
				"\"mode\": \"host-model\", \"model\": \"EPYC-Rome\", \"match\": \"exact\"}}')",
			"IF(" + r("mig", 20) + " = 0, CONCAT('{\"nova_object.name\": \"MigrationContext\", \"nova_object.data\": {\"instance_uuid\": \"', " +
				instUUID + ", '\", \"migration_id\": ', s.seq, ', \"new_numa_topology\": null, \"old_numa_topology\": null}}'), NULL)",
			"IF(s.seq % 2 = 0, NULL, CONCAT('{\"nova_object.name\": \"KeyPairList\", \"nova_object.data\": {\"objects\": [" +
				"{\"nova_object.name\": \"KeyPair\", " +
				"\"nova_object.data\": {\"name\": \"key-', " + r("u", 500) + ", '\", \"user_id\": \"', " + user + ", '\", " +
				"\"fingerprint\": \"', LEFT(" + h("fp", r("u", 500)) + ", 32), '\", \"type\": \"ssh\"}}]}}'))",
			sqlNull, sqlNull, sqlNull, sqlNull,
		}, ",\n  "),
	}, {
		name: "instance_faults", perInst: 0.2, rowBytes: 1700,
		ddl: `CREATE TABLE instance_faults (
  id INT NOT NULL AUTO_INCREMENT, created_at DATETIME NULL, updated_at DATETIME NULL, deleted_at DATETIME NULL,
  deleted INT NULL, instance_uuid VARCHAR(36) NULL, code INT NOT NULL, message VARCHAR(255) NULL, details MEDIUMTEXT NULL,
  host VARCHAR(255) NULL,
  PRIMARY KEY (id), KEY instance_faults_host_idx (host),
  KEY instance_faults_instance_uuid_deleted_created_at_idx (instance_uuid, deleted, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3`,
		columns: "created_at, deleted, instance_uuid, code, message, details, host",
		selectList: strings.Join([]string{
			created, "0", instOf("fault"), "ELT(1+" + r("c", 3) + ",500,500,400)",
			"ELT(1+" + r("c", 3) + ",'Connection to libvirt lost: 1','Exceeded maximum number of retries. " +
				"Exhausted all hosts available for retrying build failures for instance.','No valid host was found. ')",
			"CONCAT('Traceback (most recent call last):\\n  File \"/usr/lib/python3.9/site-packages/nova/compute/manager.py\", line ', " +
				"2400 + " + r("l1", 300) + ", ', in _build_and_run_instance\\n    self.driver.spawn(context, instance, image_meta,\\n" +
				"  File \"/usr/lib/python3.9/site-packages/nova/virt/libvirt/driver.py\", line ', 4100 + " + r("l2", 500) + ", ', in spawn\\n" +
				"    self._create_guest_with_network(\\n  File \"/usr/lib/python3.9/site-packages/nova/virt/libvirt/driver.py\", line ', " +
				"7200 + " + r("l3", 200) + ", ', in _create_guest_with_network\\n    guest = self._create_guest(\\n" +
				"  File \"/usr/lib/python3.9/site-packages/oslo_utils/excutils.py\", line 227, in __exit__\\n    self.force_reraise()\\n" +
				"nova.exception.RescheduledException: Build of instance ', " + instOf("fault") + ", ' was re-scheduled: " +
				"internal error: qemu unexpectedly closed the monitor (req-', " + uuidExpr(h("req", "s.seq")) + ", ')\\n')",
			host,
		}, ",\n  "),
	}, {
		name: "ports", perInst: 1.5, rowBytes: 1100,
		ddl: `CREATE TABLE ports (
  project_id VARCHAR(255) NULL, id VARCHAR(36) NOT NULL, name VARCHAR(255) NULL, network_id VARCHAR(36) NOT NULL,
  mac_address VARCHAR(32) NOT NULL, admin_state_up TINYINT(1) NOT NULL, status VARCHAR(16) NOT NULL,
  device_id VARCHAR(255) NOT NULL, device_owner VARCHAR(255) NOT NULL, standard_attr_id BIGINT NOT NULL,
  ip_allocation VARCHAR(16) NULL, fixed_ips TEXT NULL, binding_profile TEXT NULL, vif_details TEXT NULL,
  created_at TIMESTAMP NULL DEFAULT NULL,
  PRIMARY KEY (id), UNIQUE KEY uniq_ports0network_id0mac_address (network_id, mac_address),
  UNIQUE KEY uniq_ports0standard_attr_id (standard_attr_id), KEY ix_ports_project_id (project_id),
  KEY ix_ports_device_id (device_id), KEY ix_ports_network_id_device_owner (network_id, device_owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3`,
		columns: "project_id, id, name, network_id, mac_address, admin_state_up, status, device_id, device_owner, standard_attr_id, " +
			"ip_allocation, fixed_ips, binding_profile, vif_details, created_at",
		selectList: strings.Join([]string{
			project, uuidExpr(h("port", "s.seq")), "''", uuidExpr(h("net", r("n", 30))),
			// Unique per port: s.seq times an odd number modulo 2^24 is a bijection.
			"CONCAT('fa:16:3e:', LOWER(INSERT(INSERT(LPAD(HEX(s.seq * 2654435761 % 16777216), 6, '0'),5,0,':'),3,0,':')))",
			"1", "IF(" + r("st", 10) + " = 0, 'DOWN', 'ACTIVE')", instOf("port"),
			"IF(" + r("do", 8) + " = 0, 'network:dhcp', 'compute:nova')", "s.seq",
			"'immediate'",
			"CONCAT('[{\"subnet_id\": \"', " + uuidExpr(h("subnet", r("n", 30))) + ", '\", \"ip_address\": \"10.', " + r("n", 30) +
				", '.', s.seq DIV 250 % 250, '.', 2 + s.seq % 250, '\"}]')",
			"IF(" + r("bp", 5) + " = 0, '{\"pci_slot\": \"0000:3b:00.2\", \"physical_network\": \"datacentre\", " +
				"\"pci_vendor_info\": \"15b3:1018\"}', '{}')",
			"'{\"port_filter\": true, \"connectivity\": \"l2\", \"bridge_name\": \"br-int\", \"datapath_type\": \"system\", " +
				"\"ovs_hybrid_plug\": false, \"bound_drivers\": {\"0\": \"ovn\"}}'",
			created,
		}, ",\n  "),
	}, {
		name: "credentials", perInst: 2.5, rowBytes: 900,
		ddl: `CREATE TABLE credentials (
  id VARCHAR(64) NOT NULL, user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64) NULL, type VARCHAR(255) NOT NULL,
  extra TEXT NULL, key_hash VARCHAR(64) NOT NULL, encrypted_blob BLOB NOT NULL,
  PRIMARY KEY (id), KEY credential_user_id_idx (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3`,
		columns: "id, user_id, project_id, type, extra, key_hash, encrypted_blob",
		selectList: strings.Join([]string{
			"SHA2(CONCAT('cred', s.seq), 256)", user, project, "IF(" + r("ct", 4) + " = 0, 'totp', 'ec2')",
			"IF(" + r("ct", 4) + " = 0, NULL, '{}')", "SHA2(CONCAT('kh', " + r("kh", 3) + "), 256)",
			// Fernet-encrypted: incompressible bytes, 200-700 of them.
			"RANDOM_BYTES(200 + " + r("len", 500) + ")",
		}, ",\n  "),
	}}
}

// EnsureDataset makes the dataset of about sizeMB MB in schema, as root over
// controller-0's socket, or reuses it when a complete one of that size and generator
// version is there (a marker row, written last, and the row count say so). Progress goes
// to t.Logf. The caller holds the sandbox Lock.
func (s *Sandbox) EnsureDataset(t testing.TB, schema string, sizeMB int) Dataset {
	t.Helper()
	if !schemaName.MatchString(schema) || sizeMB < 1 || sizeMB > 4096 {
		t.Fatalf("dataset %q of %d MB: want a lower-case schema name and 1-4096 MB", schema, sizeMB)
	}
	n := int64(sizeMB) * instancesPerMB
	ds := Dataset{Schema: schema, SizeMB: sizeMB, Instances: n}
	marker := s.RootQuery(t, 0, "SELECT CONCAT_WS(' ', version, size_mb, instances, total_rows) FROM "+schema+"._ocb_dataset "+
		"WHERE (SELECT COUNT(*) FROM "+schema+".instances) = instances", true)
	if want := fmt.Sprintf("%d %d %d ", DatasetVersion, sizeMB, n); strings.HasPrefix(marker, want) {
		ds.Rows, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(marker, want)), 10, 64)
		ds.Reused = true
		ds.Bytes = s.schemaBytes(t, schema)
		s.syncWaitAll(t, schema)
		t.Logf("Dataset %s: reusing %d MiB of InnoDB data (%d rows, %d instances, generator v%d)",
			schema, ds.Bytes>>20, ds.Rows, n, DatasetVersion)
		return ds
	}
	start := time.Now()
	s.RootQuery(t, 0, "DROP DATABASE IF EXISTS "+schema+"; CREATE DATABASE "+schema+" CHARACTER SET utf8mb3", false)
	t.Logf("Dataset %s: making about %d MiB (%d instances) as root on %s", schema, sizeMB, n, s.Nodes[0].Name)
	for _, tb := range datasetTables() {
		s.RootQuery(t, 0, "USE "+schema+"; "+tb.ddl, false)
		rows := int64(float64(n) * tb.perInst)
		chunk := max(int64(chunkBytes/tb.rowBytes), 1)
		tStart := time.Now()
		for first := int64(1); first <= rows; first += chunk {
			last := min(first+chunk-1, rows)
			s.RootQuery(t, 0, fmt.Sprintf("USE %s; SET @n = %d; INSERT INTO %s (%s) SELECT\n  %s\nFROM seq_%d_to_%d s",
				schema, n, tb.name, tb.columns, tb.selectList, first, last), false)
		}
		ds.Rows += rows
		t.Logf("Dataset %s: %s, %d rows in %.1fs", schema, tb.name, rows, time.Since(tStart).Seconds())
	}
	s.RootQuery(t, 0, fmt.Sprintf("USE %s; CREATE TABLE _ocb_dataset (version INT NOT NULL, size_mb INT NOT NULL, "+
		"instances BIGINT NOT NULL, total_rows BIGINT NOT NULL, made_at DATETIME NOT NULL) ENGINE=InnoDB; "+
		"INSERT INTO _ocb_dataset VALUES (%d, %d, %d, %d, NOW())", schema, DatasetVersion, sizeMB, n, ds.Rows), false)
	s.syncWaitAll(t, schema)
	ds.Took = time.Since(start)
	ds.Bytes = s.schemaBytes(t, schema)
	t.Logf("Dataset %s: made %d MiB of InnoDB data (%d rows) in %.1fs, replicated to every node",
		schema, ds.Bytes>>20, ds.Rows, ds.Took.Seconds())
	return ds
}

// schemaBytes is InnoDB's data + index length of the schema, after ANALYZE so that the
// statistics are fresh.
func (s *Sandbox) schemaBytes(t testing.TB, schema string) int64 {
	t.Helper()
	tables := make([]string, 0, len(datasetTables()))
	for _, tb := range datasetTables() {
		tables = append(tables, schema+"."+tb.name)
	}
	s.RootQuery(t, 0, "ANALYZE NO_WRITE_TO_BINLOG TABLE "+strings.Join(tables, ", "), false)
	out := s.RootQuery(t, 0, "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = '"+schema+"'", false)
	b, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("size of %s: %q: %v", schema, out, err)
	}
	return b
}

// syncWaitAll waits (causality, bounded by repl.causal_read_timeout) until every node has
// applied everything written so far, so that a dump from any node sees the whole dataset.
func (s *Sandbox) syncWaitAll(t testing.TB, schema string) {
	t.Helper()
	for i := range s.Nodes {
		s.RootQuery(t, i, "SET SESSION wsrep_sync_wait = 1; SELECT COUNT(*) FROM "+schema+"._ocb_dataset", false)
	}
}

// RootQuery runs SQL as root over node i's unix socket with the mariadb client (the
// backup user may only read), bounded to five minutes, and returns the tab-separated
// rows without column names. With tolerant, a failure returns "" instead of failing the
// test (a query on a table that may not exist yet).
func (s *Sandbox) RootQuery(t testing.TB, i int, query string, tolerant bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	//nolint:gosec // G204: a fixed program; the socket path comes from sandbox.json
	cmd := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--protocol=socket", "--socket="+s.Nodes[i].Socket,
		"--user=root", "--default-character-set=utf8mb4", "--batch", "--skip-column-names")
	cmd.Stdin = strings.NewReader(query)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if tolerant {
			return ""
		}
		if len(out) > 800 {
			out = out[:800]
		}
		t.Fatalf("mariadb as root on %s: %v\n%s", s.Nodes[i].Name, err, out)
	}
	return string(out)
}
