package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerfile is the repository's Dockerfile, or the one DOCKERFILE names (as for make image).
func dockerfile() string {
	if v := os.Getenv("DOCKERFILE"); v != "" {
		return v
	}
	return "../../Dockerfile"
}

// naiveRuntimeStage reads the last stage of the Dockerfile a second way, line by line,
// so the parity checks do not trust ParseDockerfile alone.
func naiveRuntimeStage(t *testing.T) (user string, entrypoint, cmd, packages []string) {
	t.Helper()
	b, err := os.ReadFile(dockerfile())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	stage := text[strings.LastIndex(text, "\nFROM "):]
	sc := bufio.NewScanner(strings.NewReader(stage))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "USER "):
			user = strings.TrimSpace(strings.TrimPrefix(l, "USER "))
		case strings.HasPrefix(l, "ENTRYPOINT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "ENTRYPOINT ")), &entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT: %v", err)
			}
		case strings.HasPrefix(l, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "CMD ")), &cmd); err != nil {
				t.Fatalf("CMD: %v", err)
			}
		}
		if _, after, ok := strings.Cut(l, "apt-get install "); ok {
			after, _, _ = strings.Cut(after, "&&")
			for _, f := range strings.Fields(after) {
				if !strings.HasPrefix(f, "-") {
					packages = append(packages, f)
				}
			}
		}
	}
	return user, entrypoint, cmd, packages
}

// TestImageDefinitionFollowsDockerfile: what `make image` builds (hack/image.sh from
// `ociimage spec`, the config from runConfigFromSpec) has the Dockerfile's packages, user,
// entrypoint and command.
func TestImageDefinitionFollowsDockerfile(t *testing.T) {
	s, err := ParseDockerfile(dockerfile())
	if err != nil {
		t.Fatalf("make image cannot build what the Dockerfile describes: %v", err)
	}
	user, entrypoint, cmd, packages := naiveRuntimeStage(t)
	if !slices.Equal(s.Packages, packages) {
		t.Errorf("packages: image %q, Dockerfile %q", s.Packages, packages)
	}
	rc := runConfigFromSpec(s)
	if rc.User != user {
		t.Errorf("user: image %q, Dockerfile %q", rc.User, user)
	}
	if !slices.Equal(rc.Entrypoint, entrypoint) {
		t.Errorf("entrypoint: image %q, Dockerfile %q", rc.Entrypoint, entrypoint)
	}
	if !slices.Equal(rc.Cmd, cmd) {
		t.Errorf("cmd: image %q, Dockerfile %q", rc.Cmd, cmd)
	}
	// hack/image.sh takes the packages and accounts from the spec, never its own list.
	script, err := os.ReadFile("../image.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`--include="${OCI_PACKAGES// /,}"`, `<<<"$OCI_ACCOUNTS"`, `-dockerfile "$DOCKERFILE"`} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("hack/image.sh no longer uses %s", want)
		}
	}
	for _, p := range s.Packages {
		if bytes.Contains(script, []byte(p)) {
			t.Errorf("hack/image.sh names package %s itself: take it from the Dockerfile", p)
		}
	}
}

// TestDockerfileAccountsWork: the runtime user must be creatable in a Debian base. Debian's
// base-passwd already has users such as backup (34), so `useradd ... backup` fails (exit 9);
// and useradd --user-group cannot allocate a gid above GID_MAX (60000), so USER uid:gid
// with a high gid needs groupadd --gid first.
func TestDockerfileAccountsWork(t *testing.T) {
	s, err := ParseDockerfile(dockerfile())
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	for _, f := range []string{"/usr/share/base-passwd/passwd.master", "/usr/share/base-passwd/group.master"} {
		b, err := os.ReadFile(f) //nolint:gosec // G304: two fixed paths
		if err != nil {
			t.Fatalf("%v (package base-passwd: the list of Debian's fixed users and groups)", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(l, ":"); ok {
				taken[filepath.Base(f)+":"+name] = true
			}
		}
	}
	var groupadded []string
	for _, a := range s.Accounts {
		name := a[len(a)-1]
		switch a[0] {
		case "groupadd":
			groupadded = append(groupadded, flagValue(a, "--gid"))
			if taken["group.master:"+name] {
				t.Errorf("%q: group %s already exists in Debian (base-passwd): groupadd fails", strings.Join(a, " "), name)
			}
		case "useradd":
			if taken["passwd.master:"+name] {
				t.Errorf("%q: user %s already exists in Debian (base-passwd): useradd fails with exit 9", strings.Join(a, " "), name)
			}
			if slices.Contains(a, "--user-group") && taken["group.master:"+name] {
				t.Errorf("%q: group %s already exists in Debian: useradd --user-group fails", strings.Join(a, " "), name)
			}
		}
	}
	if _, gid, ok := strings.Cut(s.User, ":"); ok && !slices.Contains(groupadded, gid) && atoi(gid) >= 60000 {
		t.Errorf("USER %s: no groupadd --gid %s; useradd --user-group allocates a gid below 60000, so the image's "+
			"user would not be in group %s", s.User, gid, gid)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// fakeRootfs is a tree with what checkImage looks at.
func fakeRootfs(t *testing.T, packages []string, passwd string) string {
	const group = "root:x:0:\nnonroot:x:65532:\n"
	t.Helper()
	root := t.TempDir()
	var status strings.Builder
	for _, p := range packages {
		status.WriteString("Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\n\n")
	}
	files := map[string]string{"var/lib/dpkg/status": status.String(), "etc/passwd": passwd, "etc/group": group,
		"dev/null": "not a device, but dev/ is emptied anyway"}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(root, "etc/passwd"), filepath.Join(root, "etc/passwd-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("passwd", filepath.Join(root, "etc/passwd-symlink")); err != nil {
		t.Fatal(err)
	}
	return root
}

func buildFake(t *testing.T, dir, root string, s *Spec) (string, string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o700); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	base, app := filepath.Join(dir, "base.tar"), filepath.Join(dir, "app.tar")
	for _, l := range []struct {
		out   string
		root  string
		files []fileSpec
	}{{base, root, nil}, {app, "", []fileSpec{{src: bin, dest: s.Binary, mode: 0o755}}}} {
		f, err := os.Create(l.out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writeLayer(f, l.root, l.files); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "image.tar")
	d, err := buildImage(img, "example:test", runConfigFromSpec(s), []string{base, app})
	if err != nil {
		t.Fatal(err)
	}
	return img, d
}

func testSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := parseDockerfile(`FROM golang:1.26 AS builder
RUN go build
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client zstd \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot
COPY --from=builder /workspace/op /usr/local/bin/op
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/op"]
CMD ["manager"]
`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckImage builds images from fake trees and checks them against a spec: a faithful
// one passes; a missing package, another uid or gid, or another entrypoint is reported.
// Two builds of the same inputs give the same digest.
func TestCheckImage(t *testing.T) {
	s := testSpec(t)
	//nolint:gosec // G101: an /etc/passwd line, no credential
	passwd := "root:x:0:0:root:/root:/bin/bash\nnonroot:x:65532:65532::/home/nonroot:/usr/sbin/nologin\n"
	good := fakeRootfs(t, []string{"mariadb-client", "zstd", "libc6"}, passwd)

	img, d1 := buildFake(t, t.TempDir(), good, s)
	diffs, err := checkImage(img, s)
	if err != nil || len(diffs) > 0 {
		t.Fatalf("faithful image: diffs %q, err %v", diffs, err)
	}
	if _, d2 := buildFake(t, t.TempDir(), good, s); d1 != d2 {
		t.Errorf("not deterministic: %s, then %s", d1, d2)
	}

	cases := map[string]struct {
		root   string
		mutate func(*Spec)
		want   string
	}{
		"missing package": {root: fakeRootfs(t, []string{"mariadb-client"}, passwd), want: "package zstd"},
		"user-group gid": {
			root: fakeRootfs(t, []string{"mariadb-client", "zstd"}, strings.ReplaceAll(passwd, ":65532::", ":1000::")),
			want: "has gid 1000",
		},
		"no user": {root: fakeRootfs(t, []string{"mariadb-client", "zstd"}, "root:x:0:0:root:/root:/bin/bash\n"), want: "user nonroot"},
		"entrypoint": {root: good, want: "ENTRYPOINT", mutate: func(s *Spec) {
			s.Entrypoint = []string{"/usr/local/bin/op", "--verbose"}
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			img, _ := buildFake(t, t.TempDir(), c.root, s)
			checked := *s
			if c.mutate != nil {
				c.mutate(&checked)
			}
			diffs, err := checkImage(img, &checked)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(diffs, "\n"), c.want) {
				t.Errorf("diffs %q, want one mentioning %q", diffs, c.want)
			}
		})
	}
}

// TestParseRefusesWhatItCannotBuild: an instruction or command the image builder would
// silently drop is an error instead.
func TestParseRefusesWhatItCannotBuild(t *testing.T) {
	base := "FROM debian:bookworm-slim\nRUN apt-get install -y --no-install-recommends zstd && useradd --uid 1 u\n" +
		"COPY --from=b /x /y\nUSER 1:1\nENTRYPOINT [\"/y\"]\n"
	if _, err := parseDockerfile(base); err != nil {
		t.Fatalf("minimal Dockerfile: %v", err)
	}
	for name, extra := range map[string]string{
		"label":          "LABEL a=b\n",
		"pip":            "RUN pip install x\n",
		"shell form":     "CMD manager\n",
		"recommends":     "RUN apt-get install -y mariadb-client\n",
		"second COPY":    "COPY --from=b /z /z\n",
		"quoted ENV":     "ENV A=\"b c\"\n",
		"alpine":         "FROM alpine:3\n",
		"install option": "RUN apt-get install -y --no-install-recommends -t bookworm-backports zstd\n",
	} {
		if _, err := parseDockerfile(base + extra); err == nil {
			t.Errorf("%s: accepted %q", name, extra)
		}
	}
}

// The built image itself is checked against the Dockerfile by every build: hack/image.sh
// runs `ociimage check` (checkImage, tested above on images made here) on what it built,
// and fails the build on a difference; `make test` builds the image before its e2e tier.

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"overcloud-backup-operator:dev":  "docker.io/library/overcloud-backup-operator:dev",
		"localhost/ocb-pause:v1":         "localhost/ocb-pause:v1",
		"quay.io/ocb/operator:v0.1.0":    "quay.io/ocb/operator:v0.1.0",
		"ocb/operator:dev":               "docker.io/ocb/operator:dev",
		"registry.local:5000/op:dev":     "registry.local:5000/op:dev",
		"overcloud-backup-operator:v0.1": "docker.io/library/overcloud-backup-operator:v0.1",
	} {
		got, _, err := normalizeName(in)
		if err != nil || got != want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"op", "op:latest", "registry.local:5000/op"} {
		if _, _, err := normalizeName(bad); err == nil {
			t.Errorf("normalizeName(%q) accepted", bad)
		}
	}
}
