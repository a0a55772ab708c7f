package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Media types of an OCI image with uncompressed layers (nothing travels over a network:
// the archive goes straight into the node's containerd).
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	// annotationName is the full reference containerd's importer names the image by.
	annotationName = "io.containerd.image.name"
	annotationRef  = "org.opencontainers.image.ref.name"
	// defaultPath is the PATH of Debian's images (Docker's default too).
	defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// runConfig is the part of the image config a runtime reads.
type runConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

type imageConfig struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       runConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// runConfigFromSpec is the image config the Dockerfile's runtime stage gives.
func runConfigFromSpec(s *Spec) runConfig {
	return runConfig{
		User:       s.User,
		Env:        append([]string{defaultPath}, s.Env...),
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		WorkingDir: s.WorkingDir,
	}
}

// normalizeName turns a short reference into the one the kubelet asks containerd for
// (overcloud-backup-operator:dev → docker.io/library/overcloud-backup-operator:dev).
func normalizeName(name string) (string, string, error) {
	repo, tag := name, ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo, tag = name[:i], name[i+1:]
	}
	if tag == "" || tag == "latest" {
		return "", "", fmt.Errorf("image %q: give an explicit tag other than latest (the kubelet would try to pull :latest)", name)
	}
	first, _, hasSlash := strings.Cut(repo, "/")
	switch {
	case !hasSlash:
		repo = "docker.io/library/" + repo
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		repo = "docker.io/" + repo
	}
	return repo + ":" + tag, tag, nil
}

type blob struct {
	digest string
	size   int64
	data   []byte // small JSON blobs
	path   string // layers, copied from their file
}

// buildImage writes an OCI image-layout tar with the given layers (uncompressed layer tars)
// and run config, and returns the manifest digest.
func buildImage(out, name string, rc runConfig, layers []string) (string, error) {
	full, tag, err := normalizeName(name)
	if err != nil {
		return "", err
	}
	cfg := imageConfig{Architecture: "amd64", OS: "linux", Config: rc}
	cfg.RootFS.Type = "layers"
	var blobs []blob
	var layerDescs []descriptor
	for _, l := range layers {
		d, size, err := fileDigest(l)
		if err != nil {
			return "", err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
		layerDescs = append(layerDescs, descriptor{MediaType: mediaLayer, Digest: d, Size: size})
		blobs = append(blobs, blob{digest: d, size: size, path: l})
	}
	cfgBlob, err := jsonBlob(cfg)
	if err != nil {
		return "", err
	}
	m := manifest{SchemaVersion: 2, MediaType: mediaManifest, Layers: layerDescs,
		Config: descriptor{MediaType: mediaConfig, Digest: cfgBlob.digest, Size: cfgBlob.size}}
	manBlob, err := jsonBlob(m)
	if err != nil {
		return "", err
	}
	idx := index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []descriptor{{
		MediaType: mediaManifest, Digest: manBlob.digest, Size: manBlob.size,
		Annotations: map[string]string{annotationName: full, annotationRef: tag},
	}}}
	idxBlob, err := jsonBlob(idx)
	if err != nil {
		return "", err
	}
	blobs = append(blobs, cfgBlob, manBlob)
	err = writeFileAtomic(out, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		files := []struct {
			name string
			data []byte
		}{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", idxBlob.data}}
		for _, dir := range []string{"blobs/", "blobs/sha256/"} {
			if err := tw.WriteHeader(fixedHeader(dir, tar.TypeDir, 0)); err != nil {
				return fmt.Errorf("writing %s: %w", dir, err)
			}
		}
		for _, f := range files {
			if err := writeSmall(tw, f.name, f.data); err != nil {
				return err
			}
		}
		seen := map[string]bool{}
		for _, b := range blobs {
			if seen[b.digest] {
				continue
			}
			seen[b.digest] = true
			bn := "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:")
			if b.data != nil {
				if err := writeSmall(tw, bn, b.data); err != nil {
					return err
				}
				continue
			}
			if err := tw.WriteHeader(fixedHeader(bn, tar.TypeReg, b.size)); err != nil {
				return fmt.Errorf("writing %s: %w", bn, err)
			}
			if err := copyFile(tw, b.path, b.size); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if err != nil {
		return "", err
	}
	return manBlob.digest, nil
}

func fixedHeader(name string, typ byte, size int64) *tar.Header {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	h := &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size}
	normalize(h)
	return h
}

func writeSmall(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(fixedHeader(name, tar.TypeReg, int64(len(data)))); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func jsonBlob(v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, fmt.Errorf("encoding JSON: %w", err)
	}
	dw := newDigestWriter(io.Discard)
	_, _ = dw.Write(data)
	return blob{digest: dw.digest(), size: dw.size, data: data}, nil
}

// imageFile is one file of an image as the merged layers show it.
type imageFile struct {
	data []byte
	mode int64
	link string // for hard and symbolic links
}

// readImage reads an OCI image-layout tar: its run config, and the layers as a merged view
// of the files named in want (a later layer wins, whiteouts delete).
func readImage(p string, want []string) (runConfig, map[string]*imageFile, error) {
	var rc runConfig
	blobs, err := readTarFiles(p, nil)
	if err != nil {
		return rc, nil, err
	}
	var idx index
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil {
		return rc, nil, fmt.Errorf("%s: index.json: %w", p, err)
	}
	if len(idx.Manifests) != 1 {
		return rc, nil, fmt.Errorf("%s: index.json has %d manifests, want 1", p, len(idx.Manifests))
	}
	get := func(d string) []byte { return blobs["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var m manifest
	if err := json.Unmarshal(get(idx.Manifests[0].Digest), &m); err != nil {
		return rc, nil, fmt.Errorf("%s: manifest: %w", p, err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(get(m.Config.Digest), &cfg); err != nil {
		return rc, nil, fmt.Errorf("%s: config: %w", p, err)
	}
	files := map[string]*imageFile{}
	for _, l := range m.Layers {
		lf, err := readNestedLayer(p, "blobs/sha256/"+strings.TrimPrefix(l.Digest, "sha256:"), want)
		if err != nil {
			return rc, nil, err
		}
		for k, v := range lf {
			if v == nil {
				delete(files, k)
			} else {
				files[k] = v
			}
		}
	}
	return cfg.Config, files, nil
}

// readTarFiles returns the regular files of a tar that are small enough to be metadata
// (index, manifests, configs): layers are read separately, streaming.
func readTarFiles(p string, onLarge func(name string, r io.Reader) error) (map[string][]byte, error) {
	f, err := os.Open(p) //nolint:gosec // G304: the image named on the command line
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > 1<<20 {
			if onLarge != nil {
				if err := onLarge(h.Name, tr); err != nil {
					return nil, err
				}
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s in %s: %w", h.Name, p, err)
		}
		out[h.Name] = b
	}
}

// readNestedLayer reads the wanted files (and whiteouts of them, as nil) of one layer blob.
func readNestedLayer(p, blobName string, want []string) (map[string]*imageFile, error) {
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[strings.TrimPrefix(w, "/")] = true
	}
	files := map[string]*imageFile{}
	scan := func(r io.Reader) error {
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading layer %s: %w", blobName, err)
			}
			name := strings.TrimPrefix(h.Name, "./")
			if dir, base, ok := strings.Cut(name, ".wh."); ok && wanted[dir+base] {
				files[dir+base] = nil
				continue
			}
			if !wanted[name] {
				continue
			}
			switch h.Typeflag {
			case tar.TypeReg:
				b, err := io.ReadAll(tr)
				if err != nil {
					return fmt.Errorf("reading %s: %w", name, err)
				}
				files[name] = &imageFile{data: b, mode: h.Mode}
			case tar.TypeLink, tar.TypeSymlink:
				files[name] = &imageFile{mode: h.Mode, link: h.Linkname}
			}
		}
	}
	small, err := readTarFiles(p, func(name string, r io.Reader) error {
		if name == blobName {
			return scan(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b, ok := small[blobName]; ok {
		if err := scan(strings.NewReader(string(b))); err != nil {
			return nil, err
		}
	}
	return files, nil
}
