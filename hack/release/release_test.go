// Package release checks a release directory written by `make release` (hack/release.sh;
// docs/release.md): that each artifact is what its name says. It has no code of its own:
// the release is made by the script, and this test is its proof. `make test` builds a
// release (make test-release) and names its directory in OCB_DIST.
package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	// maxEntry bounds what is read into memory from one archive entry or file (the image's
	// base layer is streamed, never held).
	maxEntry = 256 << 20
	// maxSmall bounds JSON and YAML documents (index.json, a manifest, the CSV).
	maxSmall = 16 << 20
	// cmdTimeout bounds each helm and kustomize run.
	cmdTimeout = 2 * time.Minute
)

// versionRE is hack/release.sh's rule for VERSION: vMAJOR.MINOR.PATCH[-PRERELEASE] (semver,
// no build metadata), checked here again because the directory's name is the only place the
// test learns the version from.
var versionRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?$`)

// imageLineRE matches a container's image in rendered YAML (the CRDs' schemas have `image:`
// keys without a value, which it leaves out).
var imageLineRE = regexp.MustCompile(`^\s+image: (\S+)$`)

// sumLineRE is one line of sha256sum's output for a plain file name (text mode: two spaces).
var sumLineRE = regexp.MustCompile(`^([0-9a-f]{64})  ([A-Za-z0-9][A-Za-z0-9._+-]*)$`)

// release is what the test knows about the directory: its version (from its name) and the
// image every artifact must name (install.yaml's, whose tag must be the version).
type release struct {
	dir     string
	version string // v0.1.0
	image   string // REPO:v0.1.0
}

func (r release) file(name string) string { return filepath.Join(r.dir, name) }

// chartVersion is the charts' and the bundle's version: semver without the v.
func (r release) chartVersion() string { return strings.TrimPrefix(r.version, "v") }

func TestRelease(t *testing.T) {
	dir := os.Getenv("OCB_DIST")
	if dir == "" {
		// A peer missing fails, never skips (docs/development.md, test tiers).
		t.Fatal("OCB_DIST is unset: run `make test-release` (make test does) and set OCB_DIST to dist/v0.0.0-test, or to another release directory")
	}
	rel, err := loadRelease(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("release %s in %s, image %s", rel.version, rel.dir, rel.image)
	checks := []struct {
		name  string
		check func(*testing.T, release)
	}{
		{"SHA256SUMS verifies and covers every file", checkSums},
		{"kubectl-ocb linux/amd64 is a static x86-64 ELF", func(t *testing.T, r release) { checkPlugin(t, r, "amd64", elf.EM_X86_64) }},
		{"kubectl-ocb linux/arm64 is a static AArch64 ELF", func(t *testing.T, r release) { checkPlugin(t, r, "arm64", elf.EM_AARCH64) }},
		{"the charts lint and carry the release's versions and image", checkCharts},
		{"install.yaml is config/default with the release's image", checkInstall},
		{"the image archive is an OCI layout naming the release's tag", checkImage},
		{"the OLM bundle's CSV has the release's version and image", checkBundle},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.check(t, rel) })
	}
}

// loadRelease reads the version from the directory's name and the image from install.yaml.
// A relative OCB_DIST is relative to the repository's root (where make runs), not to this
// package's directory (where go test runs the test).
func loadRelease(dir string) (release, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return release{}, err
	}
	r := release{dir: abs, version: filepath.Base(abs)}
	if !versionRE.MatchString(r.version) {
		return release{}, fmt.Errorf("OCB_DIST=%s: the directory must be named after the release's version (vX.Y.Z[-pre])", dir)
	}
	install, err := readBounded(r.file("install.yaml"), maxEntry)
	if err != nil {
		return release{}, err
	}
	images := imagesIn(install)
	if len(images) != 1 {
		return release{}, fmt.Errorf("install.yaml names %d container images %q, want the manager's only", len(images), images)
	}
	r.image = images[0]
	if !strings.HasSuffix(r.image, ":"+r.version) || strings.Contains(r.image, "@") {
		return release{}, fmt.Errorf("install.yaml's image %q is not tagged %s", r.image, r.version)
	}
	return r, nil
}

func checkSums(t *testing.T, r release) {
	data, err := readBounded(r.file("SHA256SUMS"), maxSmall)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := parseSums(data)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		if !e.Type().IsRegular() {
			t.Errorf("%s is not a regular file: a release directory holds files only", e.Name())
			continue
		}
		files = append(files, e.Name())
	}
	listed := make([]string, 0, len(sums))
	for name := range sums {
		listed = append(listed, name)
	}
	sort.Strings(listed)
	if strings.Join(files, " ") != strings.Join(listed, " ") {
		t.Errorf("SHA256SUMS lists %q, the directory holds %q", listed, files)
	}
	for _, name := range files {
		got, err := sha256File(r.file(name))
		if err != nil {
			t.Error(err)
			continue
		}
		if want, ok := sums[name]; ok && got != want {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", name, got, want)
		}
	}
	// And the command the docs tell users to run.
	out, err := runIn(r.dir, "sha256sum", "--strict", "-c", "SHA256SUMS")
	if err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
}

func checkPlugin(t *testing.T, r release, arch string, machine elf.Machine) {
	name := fmt.Sprintf("kubectl-ocb-%s-linux-%s.tar.gz", r.version, arch)
	entries, err := readTarGz(r.file(name))
	if err != nil {
		t.Fatal(err)
	}
	for n := range entries {
		if n != "kubectl-ocb" && n != "LICENSE" {
			t.Errorf("%s holds %q: only kubectl-ocb and LICENSE belong there", name, n)
		}
	}
	bin, ok := entries["kubectl-ocb"]
	if !ok {
		t.Fatalf("%s holds no kubectl-ocb", name)
	}
	if bin.mode&0o111 != 0o111 {
		t.Errorf("%s: kubectl-ocb has mode %o, want it executable by all", name, bin.mode)
	}
	f, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("%s: kubectl-ocb is not ELF: %v", name, err)
	}
	defer func() { _ = f.Close() }()
	if f.Machine != machine || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: kubectl-ocb is %v %v %v, want %v ELFCLASS64 ET_EXEC", name, f.Machine, f.Class, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: kubectl-ocb has a %v program header: dynamically linked", name, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s: kubectl-ocb needs shared libraries %q (%v): want a static binary", name, libs, err)
	}
	info, err := buildinfo.Read(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("%s: kubectl-ocb has no Go build information: %v", name, err)
	}
	want := map[string]string{"GOOS": "linux", "GOARCH": arch, "CGO_ENABLED": "0", "-trimpath": "true"}
	for _, s := range info.Settings {
		if v, ok := want[s.Key]; ok {
			if s.Value != v {
				t.Errorf("%s: built with %s=%s, want %s", name, s.Key, s.Value, v)
			}
			delete(want, s.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("%s: build settings lack %v", name, want)
	}
	if info.Path != "github.com/overcloud-backup/overcloud-backup-operator/cmd/kubectl-ocb" {
		t.Errorf("%s: kubectl-ocb is built from %s", name, info.Path)
	}
}

func checkCharts(t *testing.T, r release) {
	helm := requireTool(t, "OCB_HELM")
	for _, c := range []string{"overcloud-backup-operator-crds", "overcloud-backup-operator"} {
		tgz := r.file(fmt.Sprintf("%s-%s.tgz", c, r.chartVersion()))
		if out, err := runIn(r.dir, helm, "lint", "--strict", tgz); err != nil {
			t.Errorf("helm lint %s: %v\n%s", filepath.Base(tgz), err, out)
		}
		out, err := runIn(r.dir, helm, "show", "chart", tgz)
		if err != nil {
			t.Errorf("helm show chart %s: %v\n%s", filepath.Base(tgz), err, out)
			continue
		}
		var meta struct {
			Name       string `json:"name"`
			Version    string `json:"version"`
			AppVersion string `json:"appVersion"`
		}
		if err := yaml.Unmarshal(out, &meta); err != nil {
			t.Errorf("%s: Chart.yaml: %v", filepath.Base(tgz), err)
			continue
		}
		if meta.Name != c || meta.Version != r.chartVersion() || meta.AppVersion != r.version {
			t.Errorf("%s: chart %s version %s appVersion %s, want %s %s %s", filepath.Base(tgz),
				meta.Name, meta.Version, meta.AppVersion, c, r.chartVersion(), r.version)
		}
		if c != "overcloud-backup-operator" {
			continue
		}
		// The image a plain `helm install` deploys: the values' repository and default tag.
		out, err = runIn(r.dir, helm, "template", "ocb", tgz, "--namespace", "overcloud-backup-system")
		if err != nil {
			t.Errorf("helm template %s: %v\n%s", filepath.Base(tgz), err, out)
			continue
		}
		if images := imagesIn(out); len(images) != 1 || images[0] != r.image {
			t.Errorf("%s renders images %q, want [%s]", filepath.Base(tgz), images, r.image)
		}
	}
}

func checkInstall(t *testing.T, r release) {
	kustomize := requireTool(t, "OCB_KUSTOMIZE")
	got, err := readBounded(r.file("install.yaml"), maxEntry)
	if err != nil {
		t.Fatal(err)
	}
	want, err := runIn("../..", kustomize, "build", "config/default")
	if err != nil {
		t.Fatalf("kustomize build config/default: %v\n%s", err, want)
	}
	if err := diffExceptImage(got, want, r.image); err != nil {
		t.Errorf("install.yaml is not `kustomize build config/default` of this checkout (rerun make release): %v", err)
	}
}

func checkImage(t *testing.T, r release) {
	//nolint:gosec // G703: a file of the release directory OCB_DIST names, its name from the validated version
	f, err := os.Open(r.file(fmt.Sprintf("overcloud-backup-operator-%s.oci.tar", r.version)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	layout, err := readOCILayout(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.check(r.version, r.image); err != nil {
		t.Error(err)
	}
}

func checkBundle(t *testing.T, r release) {
	name := fmt.Sprintf("overcloud-backup-operator-bundle-%s.tar.gz", r.version)
	entries, err := readTarGz(r.file(name))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := entries["metadata/annotations.yaml"]; !ok {
		t.Errorf("%s has no metadata/annotations.yaml", name)
	}
	var csvs []string
	for n := range entries {
		if path.Dir(n) == "manifests" && strings.HasSuffix(n, ".clusterserviceversion.yaml") {
			csvs = append(csvs, n)
		}
	}
	if len(csvs) != 1 {
		t.Fatalf("%s holds CSVs %q, want one under manifests/", name, csvs)
	}
	var csv struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Version       string `json:"version"`
			RelatedImages []struct {
				Image string `json:"image"`
			} `json:"relatedImages"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(entries[csvs[0]].data, &csv); err != nil {
		t.Fatalf("%s: %s: %v", name, csvs[0], err)
	}
	if csv.Kind != "ClusterServiceVersion" || csv.Metadata.Name != "overcloud-backup-operator.v"+r.chartVersion() ||
		csv.Spec.Version != r.chartVersion() {
		t.Errorf("%s: %s %s version %s, want ClusterServiceVersion overcloud-backup-operator.v%s version %s",
			name, csv.Kind, csv.Metadata.Name, csv.Spec.Version, r.chartVersion(), r.chartVersion())
	}
	if got := csv.Metadata.Annotations["containerImage"]; got != r.image {
		t.Errorf("%s: containerImage %q, want %s", name, got, r.image)
	}
	for _, ri := range csv.Spec.RelatedImages {
		if ri.Image != r.image {
			t.Errorf("%s: relatedImages names %q, want only %s", name, ri.Image, r.image)
		}
	}
	if images := imagesIn(entries[csvs[0]].data); len(images) != 1 || images[0] != r.image {
		t.Errorf("%s: the CSV's Deployment runs %q, want [%s]", name, images, r.image)
	}
}

// parseSums reads sha256sum's output: one "HEX  NAME" line per file, plain names, no repeats.
func parseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		m := sumLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("SHA256SUMS line %d is not `<sha256>  <file name>`: %q", n, sc.Text())
		}
		if _, dup := sums[m[2]]; dup {
			return nil, fmt.Errorf("SHA256SUMS line %d: %s listed twice", n, m[2])
		}
		sums[m[2]] = m[1]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return nil, errors.New("SHA256SUMS lists no file")
	}
	return sums, nil
}

// imagesIn returns the container images in rendered YAML, in order.
func imagesIn(yamlText []byte) []string {
	var images []string
	for _, line := range strings.Split(string(yamlText), "\n") {
		if m := imageLineRE.FindStringSubmatch(line); m != nil {
			images = append(images, m[1])
		}
	}
	return images
}

// diffExceptImage says where got differs from want other than in image lines, where got
// must name image (and want may name anything: config/'s own default).
func diffExceptImage(got, want []byte, image string) error {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	if len(g) != len(w) {
		return fmt.Errorf("%d lines, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] == w[i] && imageLineRE.FindStringSubmatch(g[i]) == nil {
			continue
		}
		gm, wm := imageLineRE.FindStringSubmatch(g[i]), imageLineRE.FindStringSubmatch(w[i])
		if gm == nil || wm == nil {
			return fmt.Errorf("line %d is %q, want %q", i+1, g[i], w[i])
		}
		if gm[1] != image || strings.TrimSuffix(g[i], gm[1]) != strings.TrimSuffix(w[i], wm[1]) {
			return fmt.Errorf("line %d is %q, want the image %s in place of %q", i+1, g[i], image, w[i])
		}
	}
	return nil
}

// containerdName is the reference containerd's importer gives a short name (hack/ociimage).
func containerdName(image string) string {
	first, _, found := strings.Cut(image, "/")
	switch {
	case !found:
		return "docker.io/library/" + image
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + image
	}
	return image
}

// ociLayout is what one pass over an image-layout tar learns: the index, and every blob's
// size and whether its content matches its digest.
type ociLayout struct {
	layoutFile []byte
	index      []byte
	blobs      map[string]int64 // "sha256:<hex>" → size, only blobs whose content matches
	small      map[string][]byte
	bad        []string
}

func readOCILayout(r io.Reader) (*ociLayout, error) {
	l := &ociLayout{blobs: map[string]int64{}, small: map[string][]byte{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("image archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		switch name := path.Clean(hdr.Name); {
		case name == "oci-layout":
			if l.layoutFile, err = readAllBounded(tr, maxSmall); err != nil {
				return nil, err
			}
		case name == "index.json":
			if l.index, err = readAllBounded(tr, maxSmall); err != nil {
				return nil, err
			}
		case path.Dir(name) == "blobs/sha256":
			h := sha256.New()
			var keep bytes.Buffer
			w := io.Writer(h)
			if hdr.Size <= maxSmall {
				w = io.MultiWriter(h, &keep)
			}
			n, err := io.CopyN(w, tr, hdr.Size)
			if err != nil {
				return nil, fmt.Errorf("image archive: %s: %w", name, err)
			}
			digest := "sha256:" + path.Base(name)
			if "sha256:"+hex.EncodeToString(h.Sum(nil)) != digest {
				l.bad = append(l.bad, name)
				continue
			}
			l.blobs[digest] = n
			if hdr.Size <= maxSmall {
				l.small[digest] = keep.Bytes()
			}
		}
	}
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

// check: the layout file, one manifest in the index named tag and image, and every blob the
// manifest names present with its size and digest; the config says linux/amd64.
func (l *ociLayout) check(tag, image string) error {
	if len(l.bad) > 0 {
		return fmt.Errorf("blobs whose content is not their digest: %q", l.bad)
	}
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(l.layoutFile, &layout); err != nil {
		return fmt.Errorf("oci-layout: %w", err)
	}
	if layout.Version != "1.0.0" {
		return fmt.Errorf("oci-layout is %q, want imageLayoutVersion 1.0.0", l.layoutFile)
	}
	var index struct {
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     []ociDescriptor `json:"manifests"`
	}
	if err := json.Unmarshal(l.index, &index); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	if index.SchemaVersion != 2 || len(index.Manifests) != 1 {
		return fmt.Errorf("index.json: schemaVersion %d with %d manifests, want 2 with 1", index.SchemaVersion, len(index.Manifests))
	}
	m := index.Manifests[0]
	if got := m.Annotations["org.opencontainers.image.ref.name"]; got != tag {
		return fmt.Errorf("index.json names the tag %q, want %s", got, tag)
	}
	if got := m.Annotations["io.containerd.image.name"]; got != containerdName(image) {
		return fmt.Errorf("index.json names the image %q for containerd, want %s", got, containerdName(image))
	}
	if err := l.present(m); err != nil {
		return fmt.Errorf("the manifest: %w", err)
	}
	var manifest struct {
		Config ociDescriptor   `json:"config"`
		Layers []ociDescriptor `json:"layers"`
	}
	if err := json.Unmarshal(l.small[m.Digest], &manifest); err != nil {
		return fmt.Errorf("the manifest: %w", err)
	}
	if len(manifest.Layers) == 0 {
		return errors.New("the manifest has no layer")
	}
	for _, d := range append([]ociDescriptor{manifest.Config}, manifest.Layers...) {
		if err := l.present(d); err != nil {
			return err
		}
	}
	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	}
	if err := json.Unmarshal(l.small[manifest.Config.Digest], &cfg); err != nil {
		return fmt.Errorf("the image config: %w", err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		return fmt.Errorf("the image is %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	return nil
}

func (l *ociLayout) present(d ociDescriptor) error {
	size, ok := l.blobs[d.Digest]
	if !ok {
		return fmt.Errorf("blob %s (%s) is missing", d.Digest, d.MediaType)
	}
	if size != d.Size {
		return fmt.Errorf("blob %s is %d bytes, its descriptor says %d", d.Digest, size, d.Size)
	}
	return nil
}

type tarEntry struct {
	mode int64
	data []byte
}

// readTarGz returns a tar.gz's regular files; any other entry but a directory is an error,
// as are names that leave the archive's root.
func readTarGz(file string) (map[string]tarEntry, error) {
	f, err := os.Open(file) //nolint:gosec // G304: a file of the release directory OCB_DIST names
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	entries := map[string]tarEntry{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("%s: entry %q leaves the archive", filepath.Base(file), hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%s: entry %q is neither a file nor a directory", filepath.Base(file), hdr.Name)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			return nil, fmt.Errorf("%s: entry %q is owned by %d:%d, want 0:0", filepath.Base(file), hdr.Name, hdr.Uid, hdr.Gid)
		}
		data, err := readAllBounded(tr, maxEntry)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", filepath.Base(file), hdr.Name, err)
		}
		entries[name] = tarEntry{mode: hdr.Mode, data: data}
	}
}

func readAllBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

func readBounded(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file) //nolint:gosec // G304: a file of the release directory OCB_DIST names
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := readAllBounded(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return data, nil
}

func sha256File(file string) (string, error) {
	f, err := os.Open(file) //nolint:gosec // G304: a file of the release directory OCB_DIST names
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// requireTool returns the binary the environment variable names (make test sets them).
func requireTool(t *testing.T, env string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		t.Fatalf("%s is unset: make test sets it; a release is checked with the pinned tools", env)
	}
	return bin
}

// runIn runs a command in dir with a timeout and returns its standard output (its standard
// error too when it fails).
func runIn(dir, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...) //nolint:gosec // G204: the tools make names (OCB_HELM, OCB_KUSTOMIZE) and sha256sum, our arguments
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}
