package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// committed writes a real backup with the Artifact writer and returns its directory and
// its size on disk (the files the manifest lists, and the manifest).
func committed(t *testing.T, root, ns, name, uid string) (string, int64) {
	t.Helper()
	a, err := Begin(root, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, "nova.sql", Zstd, sqlLike(256<<10))
	write(t, a, "users.sql", Zstd, []byte("CREATE USER 'nova'@'%';\n"))
	dir, err := a.Commit(&Manifest{Backup: Identity{Namespace: ns, Name: name, UID: uid}, Options: Options{Method: "Logical", Compression: Zstd}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	n := st.Size()
	for _, f := range m.Files {
		n += f.Bytes
	}
	return dir, n
}

// interrupted leaves what a killed agent leaves: the temporary directory of a backup that
// was begun and written to, never committed nor aborted. It returns the directory's name
// and the bytes of its files.
func interrupted(t *testing.T, root, ns, name string) (string, int64) {
	t.Helper()
	a, err := Begin(root, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, "nova.sql", Gzip, sqlLike(64<<10))
	var n int64
	for _, f := range a.Files() {
		n += f.Bytes
	}
	return filepath.Base(a.tmp), n
}

// tree is every path under root (symbolic links not followed) with its type and size: a
// refusal must leave it as it was.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[rel] = fmt.Sprintf("%v %d", info.Mode().Type(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRemoveBackupAndLeftovers(t *testing.T) {
	root := t.TempDir()
	p1, n1 := interrupted(t, root, "openstack", "a")
	p2, n2 := interrupted(t, root, "openstack", "a")
	_, n := committed(t, root, "openstack", "a", "uid-a")
	// Neighbours whose names start like "a", and "a" in another namespace: all stay.
	neighbours := make([]string, 0, 4)
	for _, b := range []struct{ ns, name string }{{"openstack", "ab"}, {"openstack", "a.partial-x"}, {"openstack", "a.removing-x"}, {"other", "a"}} {
		interrupted(t, root, b.ns, b.name) // Begin refuses once the backup exists
		dir, _ := committed(t, root, b.ns, b.name, "uid-"+b.name)
		neighbours = append(neighbours, dir)
	}
	before := tree(t, root)

	res, err := Remove(t.Context(), RemoveConfig{Root: root, Namespace: "openstack", Name: "a", UID: "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	wantRemoved := []string{"openstack/a", "openstack/" + p1, "openstack/" + p2}
	slices.Sort(wantRemoved[1:])
	if !slices.Equal(res.Removed, wantRemoved) || res.Bytes != n+n1+n2 || res.NotFound || res.Refused {
		t.Fatalf("result %+v, want removed %v and %d bytes", res, wantRemoved, n+n1+n2)
	}

	after := tree(t, root)
	for path, what := range before {
		gone := path == "openstack/a" || strings.HasPrefix(path, "openstack/a/") ||
			strings.HasPrefix(path, "openstack/"+p1) || strings.HasPrefix(path, "openstack/"+p2)
		if got, ok := after[path]; gone == ok || (ok && got != what) {
			t.Errorf("%s: before %q, after %q (present %v), want removed %v", path, what, got, ok, gone)
		}
	}
	if len(after) != len(before)-countUnder(before, "openstack/a", "openstack/"+p1, "openstack/"+p2) {
		t.Errorf("unexpected paths after the removal: %v", slices.Sorted(maps.Keys(after)))
	}
	for _, dir := range neighbours {
		if _, err := Verify(t.Context(), dir); err != nil {
			t.Errorf("a neighbour is damaged: %v", err)
		}
	}

	// Again: nothing left, which is a success.
	res, err = Remove(t.Context(), RemoveConfig{Root: root, Namespace: "openstack", Name: "a", UID: "uid-a"})
	if err != nil || !res.NotFound || len(res.Removed) != 0 || res.Bytes != 0 {
		t.Fatalf("second removal: %+v %v, want nothing to remove", res, err)
	}
}

// countUnder counts the paths that are one of dirs or inside one.
func countUnder(paths map[string]string, dirs ...string) int {
	n := 0
	for p := range paths {
		for _, d := range dirs {
			if p == d || strings.HasPrefix(p, d+"/") {
				n++
				break
			}
		}
	}
	return n
}

func TestRemoveOnlyLeftovers(t *testing.T) {
	root := t.TempDir()
	p, n := interrupted(t, root, "openstack", "a")
	// A removal killed half-way leaves the backup moved aside, maybe without its manifest.
	dir, m := committed(t, root, "openstack", "a", "uid-a")
	m -= int64(len(mustRead(t, filepath.Join(dir, ManifestName))))
	rm(t, filepath.Join(dir, ManifestName))
	aside := ".a.removing-0123456789ab"
	if err := os.Rename(dir, filepath.Join(root, "openstack", aside)); err != nil {
		t.Fatal(err)
	}
	res, err := Remove(t.Context(), RemoveConfig{Root: root, Namespace: "openstack", Name: "a", UID: "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"openstack/" + p, "openstack/" + aside}
	slices.Sort(want)
	if !slices.Equal(res.Removed, want) || res.Bytes != n+m || res.NotFound {
		t.Fatalf("result %+v, want removed %v and %d bytes", res, want, n+m)
	}
	entries, err := os.ReadDir(filepath.Join(root, "openstack"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("the namespace's directory should stay, empty: %v %v", entries, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // G304: test file
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRemoveNotFound(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, root string)
	}{
		{"no namespace directory", func(*testing.T, string) {}},
		{"empty namespace directory", func(t *testing.T, root string) {
			if err := os.Mkdir(filepath.Join(root, "openstack"), 0o750); err != nil {
				t.Fatal(err)
			}
		}},
		{"only other backups", func(t *testing.T, root string) {
			interrupted(t, root, "openstack", "ab")
			committed(t, root, "openstack", "ab", "uid-ab")
			committed(t, root, "other", "a", "uid-a")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(t, root)
			before := tree(t, root)
			res, err := Remove(t.Context(), RemoveConfig{Root: root, Namespace: "openstack", Name: "a", UID: "uid-a"})
			if err != nil || !res.NotFound || len(res.Removed) != 0 || res.Bytes != 0 {
				t.Fatalf("%+v %v, want nothing to remove", res, err)
			}
			if after := tree(t, root); !maps.Equal(before, after) {
				t.Errorf("changed: before %v, after %v", before, after)
			}
		})
	}
}

func TestRemoveNeedsTheVolume(t *testing.T) {
	res, err := Remove(t.Context(), RemoveConfig{Root: filepath.Join(t.TempDir(), "not-mounted"), Namespace: "openstack", Name: "a", UID: "uid-a"})
	if err == nil || res.NotFound || !strings.Contains(err.Error(), "the backup volume is not at ") {
		t.Fatalf("%+v %v, want an error: a missing volume is not \"nothing to remove\"", res, err)
	}
}

func TestRemoveUIDRules(t *testing.T) {
	cases := []struct {
		name                string
		manifestUID, given  string
		wantRemoved, refuse bool
	}{
		{"same UID", "uid-a", "uid-a", true, false},
		{"another UID", "uid-old", "uid-a", false, true},
		// Without the UID on both sides nothing shows that the backup is the object's.
		{"the manifest records no UID", "", "uid-a", false, true},
		{"no UID given", "uid-a", "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir, _ := committed(t, root, "openstack", "a", tc.manifestUID)
			res, err := Remove(t.Context(), RemoveConfig{Root: root, Namespace: "openstack", Name: "a", UID: tc.given})
			if got := errors.Is(err, ErrRefused); got != tc.refuse || res.Refused != tc.refuse {
				t.Fatalf("%+v %v, want refused %v", res, err, tc.refuse)
			}
			if _, serr := os.Stat(dir); (serr == nil) == tc.wantRemoved {
				t.Errorf("backup still there: %v, want removed %v", serr == nil, tc.wantRemoved)
			}
		})
	}
}

func TestRemoveRefuses(t *testing.T) {
	cases := []struct {
		name  string
		ns    string
		setup func(t *testing.T, root string)
		want  string
	}{
		{"another UID", "openstack", func(t *testing.T, root string) {
			committed(t, root, "openstack", "a", "uid-old")
		}, "its manifest.json records the OvercloudBackup with UID uid-old, not uid-a"},
		{"no manifest", "openstack", func(t *testing.T, root string) {
			dir, _ := committed(t, root, "openstack", "a", "uid-a")
			rm(t, filepath.Join(dir, ManifestName))
		}, "no readable manifest.json (lstat "},
		{"an empty directory", "openstack", func(t *testing.T, root string) {
			if err := os.Mkdir(filepath.Join(root, "openstack", "a"), 0o750); err != nil {
				t.Fatal(err)
			}
		}, "no readable manifest.json"},
		{"a manifest that is not JSON", "openstack", func(t *testing.T, root string) {
			dir, _ := committed(t, root, "openstack", "a", "uid-a")
			if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte("-- MariaDB dump\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "no readable manifest.json (not a manifest: "},
		{"a manifest that is a symbolic link", "openstack", func(t *testing.T, root string) {
			dir, _ := committed(t, root, "openstack", "a", "uid-a")
			other, _ := committed(t, root, "other", "a", "uid-a")
			rm(t, filepath.Join(dir, ManifestName))
			symlink(t, filepath.Join(other, ManifestName), filepath.Join(dir, ManifestName))
		}, "no readable manifest.json (it is a symbolic link)"},
		{"a backup moved from another name", "openstack", func(t *testing.T, root string) {
			dir, _ := committed(t, root, "openstack", "b", "uid-a")
			if err := os.Rename(dir, filepath.Join(root, "openstack", "a")); err != nil {
				t.Fatal(err)
			}
		}, "its manifest.json records the OvercloudBackup openstack/b"},
		{"a symbolic link at the backup's path", "openstack", func(t *testing.T, root string) {
			other, _ := committed(t, root, "other", "a", "uid-a")
			symlink(t, other, filepath.Join(root, "openstack", "a"))
		}, "refused to remove openstack/a: it is a symbolic link, not a backup directory"},
		{"a file at the backup's path", "openstack", func(t *testing.T, root string) {
			if err := os.WriteFile(filepath.Join(root, "openstack", "a"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "it is a regular file, not a backup directory"},
		{"a leftover that is a symbolic link", "openstack", func(t *testing.T, root string) {
			committed(t, root, "openstack", "a", "uid-a")
			other, _ := committed(t, root, "other", "a", "uid-a")
			symlink(t, other, filepath.Join(root, "openstack", ".a.partial-0123456789ab"))
		}, "refused to remove openstack/.a.partial-0123456789ab: it is a symbolic link, where the agent only ever makes directories"},
		{"a namespace directory that is a symbolic link", "linked", func(t *testing.T, root string) {
			committed(t, root, "real", "a", "uid-a")
			symlink(t, filepath.Join(root, "real"), filepath.Join(root, "linked"))
		}, "refused to remove linked: the namespace's directory is a symbolic link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			// An interrupted attempt beside it: a refusal removes nothing, not even that.
			interrupted(t, root, "openstack", "a")
			tc.setup(t, root)
			before := tree(t, root)
			res, err := Remove(t.Context(), RemoveConfig{Root: root, Namespace: tc.ns, Name: "a", UID: "uid-a"})
			if !errors.Is(err, ErrRefused) || !res.Refused || len(res.Removed) != 0 || res.Bytes != 0 || res.NotFound {
				t.Fatalf("%+v %v, want a refusal", res, err)
			}
			t.Log(err) // what the controller shows the user
			if !strings.Contains(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), "; nothing was removed") {
				t.Errorf("error %q, want it to contain %q and end with \"; nothing was removed\"", err, tc.want)
			}
			if after := tree(t, root); !maps.Equal(before, after) {
				t.Errorf("changed: before %v, after %v", before, after)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveRefusesInvalidNames(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	interrupted(t, root, "openstack", "a")
	committed(t, root, "openstack", "a", "")
	committed(t, root, "x", "a", "")
	committed(t, top, "outside", "a", "")
	before := tree(t, top)
	cases := []struct{ root, ns, name string }{
		{"", "openstack", "a"},
		{root, "", "a"},
		{root, "openstack", ""},
		{root, "..", "outside"},
		{root, ".", "openstack"},
		{root, "openstack", ".."},
		{root, "openstack", "."},
		{root, "openstack", "../x"},
		{root, "openstack", "a/"},
		{root, "openstack/a", "nova.sql.zst"},
		{root, "openstack", ".a.partial-0123456789ab"},
		{root, "openstack", "A"},
		{root, "openstack", "a_b"},
		{root, "openstack", "-a"},
		{root, "open.stack", "a"},
		{root, "Openstack", "a"},
		{root, "openstack", strings.Repeat("a", 254)},
	}
	for _, tc := range cases {
		res, err := Remove(t.Context(), RemoveConfig{Root: tc.root, Namespace: tc.ns, Name: tc.name})
		if !errors.Is(err, ErrRefused) || !res.Refused || len(res.Removed) != 0 || !strings.HasSuffix(err.Error(), "; nothing was removed") {
			t.Errorf("root %q namespace %q name %q: %+v %v, want a refusal", tc.root, tc.ns, tc.name, res, err)
		}
	}
	if after := tree(t, top); !maps.Equal(before, after) {
		t.Errorf("changed: before %v, after %v", before, after)
	}
}

func TestRemoveResultSummary(t *testing.T) {
	r := RemoveResult{Bytes: 7, Error: strings.Repeat("e", 5000)}
	for range 100 {
		r.Removed = append(r.Removed, "openstack/."+strings.Repeat("n", 40)+".partial-0123456789ab")
	}
	if b := r.Summary(); len(b) > 4000 || !strings.Contains(string(b), `"bytes":7`) {
		t.Errorf("summary of %d bytes: %.200s", len(b), b)
	}
}
