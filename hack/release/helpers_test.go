package release

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

// The checks' own logic, without a release directory: each would pass a broken artifact if
// it were wrong.

func TestVersionRE(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.1.0": true, "v1.2.3-rc.1": true, "v0.0.0-ci": true, "v1.0.0-0.3.7": true, "v1.0.0-x-y.z--": true,
		"v01.0.0": false, "v1.0": false, "1.0.0": false, "v1.0.0-01": false, "v1.0.0-": false,
		"v1.0.0-a..b": false, "v1.0.0+build": false, "v1.0.0/..": false, "v1.0.0\n": false, "": false,
	} {
		if got := versionRE.MatchString(v); got != want {
			t.Errorf("versionRE(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseSums(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		want     map[string]string
		wantErr  string
	}{
		{"two files", h + "  a.tgz\n" + h + "  install.yaml\n", map[string]string{"a.tgz": h, "install.yaml": h}, ""},
		{"binary-mode marker", h + " *a.tgz\n", nil, "is not"},
		{"a path", h + "  ../etc/passwd\n", nil, "is not"},
		{"short hash", h[:63] + "  a.tgz\n", nil, "is not"},
		{"upper-case hash", strings.ToUpper(h) + "  a.tgz\n", nil, "is not"},
		{"listed twice", h + "  a\n" + h + "  a\n", nil, "listed twice"},
		{"empty", "", nil, "no file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSums([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestDiffExceptImage(t *testing.T) {
	const want = "kind: Deployment\nspec:\n  containers:\n  - name: manager\n    image: overcloud-backup-operator:v0.1.0\n    args: [--leader-elect]\n"
	tests := []struct {
		name, got, wantErr string
	}{
		{"same but the image", strings.Replace(want, "operator:v0.1.0", "operator:v1.0.0", 1), ""},
		{"another image", strings.Replace(want, "operator:v0.1.0", "evil:v1.0.0", 1), "want the image"},
		{"checked-in image kept", want, "want the image"},
		{"an arg changed", strings.Replace(strings.Replace(want, "v0.1.0", "v1.0.0", 1), "leader-elect", "x", 1), "line 6"},
		{"a line added", strings.Replace(want, "v0.1.0", "v1.0.0", 1) + "x: y\n", "lines"},
		{"image moved to another key", strings.Replace(strings.Replace(want, "v0.1.0", "v1.0.0", 1), "    image:", "    Image:", 1), "line 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := diffExceptImage([]byte(tc.got), []byte(want), "overcloud-backup-operator:v1.0.0")
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected difference: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestContainerdName(t *testing.T) {
	for in, want := range map[string]string{
		"overcloud-backup-operator:v1.0.0":          "docker.io/library/overcloud-backup-operator:v1.0.0",
		"ocb/operator:v1.0.0":                       "docker.io/ocb/operator:v1.0.0",
		"registry.example.com/ocb/operator:v1.0.0":  "registry.example.com/ocb/operator:v1.0.0",
		"localhost:5000/operator:v1.0.0":            "localhost:5000/operator:v1.0.0",
		"localhost/operator:v1.0.0":                 "localhost/operator:v1.0.0",
		"docker.io/library/ocb-operator:v1.0.0-rc1": "docker.io/library/ocb-operator:v1.0.0-rc1",
	} {
		if got := containerdName(in); got != want {
			t.Errorf("containerdName(%q) = %q, want %q", in, got, want)
		}
	}
}

// ociTar writes an image-layout tar; blobs are stored under their digest unless corrupt.
func ociTar(t *testing.T, index string, corrupt bool, blobs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, data string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	add("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)
	add("index.json", index)
	for _, b := range blobs {
		name := digestOf(b)[len("sha256:"):]
		if corrupt {
			b += "x"
		}
		add("blobs/sha256/"+name, b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestOCILayoutCheck(t *testing.T) {
	const image, tag = "overcloud-backup-operator:v1.0.0", "v1.0.0"
	cfg := `{"os":"linux","architecture":"amd64"}`
	arm := `{"os":"linux","architecture":"arm64"}`
	layer := "layer bytes"
	manifestFor := func(cfg string) string {
		return `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digestOf(cfg) +
			`","size":` + strconv.Itoa(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
			digestOf(layer) + `","size":` + strconv.Itoa(len(layer)) + `}]}`
	}
	indexFor := func(manifest, ref, name string) string {
		return `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
			digestOf(manifest) + `","size":` + strconv.Itoa(len(manifest)) + `,"annotations":{"org.opencontainers.image.ref.name":"` +
			ref + `","io.containerd.image.name":"` + name + `"}}]}`
	}
	good := manifestFor(cfg)
	tests := []struct {
		name    string
		tar     []byte
		wantErr string
	}{
		{"complete", ociTar(t, indexFor(good, tag, "docker.io/library/"+image), false, good, cfg, layer), ""},
		{"another tag", ociTar(t, indexFor(good, "v0.9.0", "docker.io/library/"+image), false, good, cfg, layer), "names the tag"},
		{"another name", ociTar(t, indexFor(good, tag, "docker.io/library/other:v1.0.0"), false, good, cfg, layer), "for containerd"},
		{"layer missing", ociTar(t, indexFor(good, tag, "docker.io/library/"+image), false, good, cfg), "is missing"},
		{"corrupt blobs", ociTar(t, indexFor(good, tag, "docker.io/library/"+image), true, good, cfg, layer), "not their digest"},
		{"arm64 config", ociTar(t, indexFor(manifestFor(arm), tag, "docker.io/library/"+image), false, manifestFor(arm), arm, layer), "want linux/amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := readOCILayout(bytes.NewReader(tc.tar))
			if err != nil {
				t.Fatal(err)
			}
			err = l.check(tag, image)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
