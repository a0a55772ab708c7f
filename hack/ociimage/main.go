// Command ociimage builds OCI images without a container engine, for the one-node
// Kubernetes of hack/kube-node.sh (`make image`, the pause image).
//
//	ociimage spec  [-dockerfile Dockerfile]
//	    prints the Dockerfile's runtime stage as shell assignments (OCI_SUITE, OCI_PACKAGES,
//	    OCI_USERADD, OCI_USER, OCI_BINARY) for hack/image.sh: the Dockerfile stays the one
//	    definition of the image's packages, user and entrypoint.
//	ociimage layer -o LAYER.tar [-dir ROOTFS] [-file SRC=DEST[:MODE]]...
//	    writes an uncompressed layer tar, deterministic (sorted, mtime 0, numeric owners),
//	    and prints its digest. dev/, proc/ and sys/ are kept empty.
//	ociimage build -o IMAGE.tar -name NAME:TAG (-dockerfile Dockerfile | -entrypoint JSON [-user U])
//	    -layer LAYER.tar...
//	    writes an OCI image-layout tar (for `ctr images import`) and prints the manifest digest.
//	ociimage check -image IMAGE.tar [-dockerfile Dockerfile]
//	    fails unless the image has the Dockerfile's packages, user, entrypoint and binary.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: ociimage spec|layer|build|check [flags] (see the package comment)")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dockerfile := fs.String("dockerfile", "Dockerfile", "the Dockerfile whose runtime stage defines the image")
	out := fs.String("o", "", "output file")
	dir := fs.String("dir", "", "layer: the root of the tree to archive")
	name := fs.String("name", "", "build: image reference NAME:TAG (normalised to docker.io/library/ for short names)")
	entrypoint := fs.String("entrypoint", "", "build: ENTRYPOINT as a JSON array, instead of -dockerfile's")
	user := fs.String("user", "", "build: USER, with -entrypoint")
	img := fs.String("image", "", "check: the image-layout tar to check")
	var files, layers multiFlag
	fs.Var(&files, "file", "layer: SRC=DEST[:MODE] to add (repeatable)")
	fs.Var(&layers, "layer", "build: a layer tar, bottom first (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "spec":
		s, err := ParseDockerfile(*dockerfile)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, s.Shell())
		return err
	case "layer":
		return cmdLayer(stdout, *out, *dir, files)
	case "build":
		if *out == "" || *name == "" || len(layers) == 0 {
			return fmt.Errorf("build needs -o, -name and at least one -layer")
		}
		var rc runConfig
		if *entrypoint != "" {
			rc.Env = []string{defaultPath}
			rc.User = *user
			if err := json.Unmarshal([]byte(*entrypoint), &rc.Entrypoint); err != nil {
				return fmt.Errorf("-entrypoint: want a JSON array: %w", err)
			}
		} else {
			s, err := ParseDockerfile(*dockerfile)
			if err != nil {
				return err
			}
			rc = runConfigFromSpec(s)
		}
		d, err := buildImage(*out, *name, rc, layers)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, d)
		return err
	case "check":
		return cmdCheck(stdout, *img, *dockerfile)
	default:
		return fmt.Errorf("unknown command %q (want spec, layer, build or check)", args[0])
	}
}

func cmdLayer(stdout io.Writer, out, dir string, files []string) error {
	if out == "" || (dir == "" && len(files) == 0) {
		return fmt.Errorf("layer needs -o and -dir or -file")
	}
	var specs []fileSpec
	for _, f := range files {
		fsp, err := parseFileSpec(f)
		if err != nil {
			return err
		}
		specs = append(specs, fsp)
	}
	var digest string
	err := writeFileAtomic(out, func(w io.Writer) error {
		d, err := writeLayer(w, dir, specs)
		digest = d
		return err
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, digest)
	return err
}

func cmdCheck(stdout io.Writer, img, dockerfile string) error {
	if img == "" {
		return fmt.Errorf("check needs -image")
	}
	s, err := ParseDockerfile(dockerfile)
	if err != nil {
		return err
	}
	diffs, err := checkImage(img, s)
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s differs from %s:\n  %s", img, dockerfile, strings.Join(diffs, "\n  "))
	}
	_, err = fmt.Fprintf(stdout, "%s matches %s: %d packages, user %s (%s), entrypoint %q\n",
		img, dockerfile, len(s.Packages), s.UserName(), s.User, s.Entrypoint)
	return err
}
