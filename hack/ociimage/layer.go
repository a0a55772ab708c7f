package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// epoch is the modification time of every entry: the layer's bytes depend only on the
// files' names, contents, modes and owners, so the same tree always gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// emptied are directories kept in the layer without their contents: the container runtime
// mounts its own /dev, /proc and /sys (debootstrap leaves device nodes in dev/).
var emptied = []string{"dev", "proc", "sys"}

// capXattr is the one extended attribute carried into the layer (file capabilities).
const capXattr = "security.capability"

// fileSpec is one file added to a layer from outside a tree: SRC=DEST[:MODE].
type fileSpec struct {
	src, dest string
	mode      int64
}

func parseFileSpec(s string) (fileSpec, error) {
	src, dest, ok := strings.Cut(s, "=")
	if !ok || src == "" || dest == "" {
		return fileSpec{}, fmt.Errorf("-file %q: want SRC=DEST[:MODE]", s)
	}
	f := fileSpec{src: src, dest: dest, mode: 0o755}
	if d, m, ok := strings.Cut(dest, ":"); ok {
		if _, err := fmt.Sscanf(m, "%o", &f.mode); err != nil {
			return fileSpec{}, fmt.Errorf("-file %q: mode %q is not octal", s, m)
		}
		f.dest = d
	}
	if !path.IsAbs(f.dest) {
		return fileSpec{}, fmt.Errorf("-file %q: DEST must be absolute", s)
	}
	return f, nil
}

// digestWriter counts and hashes what goes through it.
type digestWriter struct {
	w    io.Writer
	h    hashWriter
	size int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newDigestWriter(w io.Writer) *digestWriter { return &digestWriter{w: w, h: sha256.New()} }

func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	_, _ = d.h.Write(p[:n]) // a hash never fails
	d.size += int64(n)
	return n, err
}

func (d *digestWriter) digest() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }

// writeLayer writes an uncompressed layer tar of the tree at root (if not "") followed by
// the extra files, and returns its digest (the diff ID).
func writeLayer(w io.Writer, root string, files []fileSpec) (string, error) {
	dw := newDigestWriter(w)
	tw := tar.NewWriter(dw)
	if root != "" {
		if err := addTree(tw, root); err != nil {
			return "", err
		}
	}
	if err := addFiles(tw, files); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("closing the layer: %w", err)
	}
	return dw.digest(), nil
}

type inode struct{ dev, ino uint64 }

func addTree(tw *tar.Writer, root string) error {
	links := map[inode]string{}
	//nolint:gosec // G703: archiving the tree named on the command line is the point
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			for _, e := range emptied {
				if path.Dir(rel) == e || strings.HasPrefix(rel, e+"/") {
					return fs.SkipDir
				}
			}
		} else {
			for _, e := range emptied {
				if strings.HasPrefix(rel, e+"/") {
					return nil
				}
			}
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		return addEntry(tw, p, rel, fi, links)
	})
}

func addEntry(tw *tar.Writer, p, rel string, fi fs.FileInfo, links map[inode]string) error {
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // sockets cannot be archived; none belong in an image
	}
	target := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", p, err)
		}
		target = t
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return fmt.Errorf("tar header of %s: %w", p, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	normalize(hdr)
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat_t", p)
	}
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	if fi.Mode().IsRegular() {
		if st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev is uint64 only on some platforms
			if first, seen := links[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			links[key] = rel
		}
		if v := getxattr(p, capXattr); v != "" {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr." + capXattr: v}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	return copyFile(tw, p, hdr.Size)
}

// normalize drops everything of a header that is not content: times and owner names.
func normalize(hdr *tar.Header) {
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
}

func copyFile(w io.Writer, p string, size int64) error {
	f, err := os.Open(p) //nolint:gosec // G304: a file of the tree being archived
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("copying %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("%s changed size while archived (%d, then %d bytes)", p, size, n)
	}
	return nil
}

func getxattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(p, name, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// addFiles adds each file with its parent directories (root-owned, 0755).
func addFiles(tw *tar.Writer, files []fileSpec) error {
	sorted := append([]fileSpec(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].dest < sorted[j].dest })
	dirs := map[string]bool{}
	for _, f := range sorted {
		var parents []string
		for d := path.Dir(f.dest); d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}
			normalize(hdr)
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("writing %s: %w", d, err)
			}
		}
		fi, err := os.Stat(f.src)
		if err != nil {
			return fmt.Errorf("-file %s: %w", f.src, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("-file %s: not a regular file", f.src)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.dest, "/"), Mode: f.mode, Size: fi.Size()}
		normalize(hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", f.dest, err)
		}
		if err := copyFile(tw, f.src, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes path via a temp file and a rename, calling fill with the file.
func writeFileAtomic(p string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name()) //nolint:gosec // G703: our own temp file
		}
	}()
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), p); err != nil { //nolint:gosec // G703: the output named on the command line
		return fmt.Errorf("renaming %s: %w", p, err)
	}
	return nil
}

// fileDigest hashes a file: its digest and size.
func fileDigest(p string) (string, int64, error) {
	f, err := os.Open(p) //nolint:gosec // G304: a layer named on the command line
	if err != nil {
		return "", 0, fmt.Errorf("open %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	dw := newDigestWriter(io.Discard)
	if _, err := io.Copy(dw, f); err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", p, err)
	}
	return dw.digest(), dw.size, nil
}
