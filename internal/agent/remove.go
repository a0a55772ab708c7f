package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ErrRefused is returned when Remove will not remove a backup because nothing proves it
// belongs to the OvercloudBackup being deleted (or the names given are unsafe). Nothing
// was removed, and trying again will not help until someone has looked.
var ErrRefused = errors.New("refused to remove")

// RemoveConfig names the backup to remove: <Root>/<Namespace>/<Name>.
type RemoveConfig struct {
	// Root is where the backup volume is mounted.
	Root string
	// Namespace and Name are the OvercloudBackup's: a DNS-1123 label and subdomain.
	Namespace string
	Name      string
	// UID is the OvercloudBackup's UID, required: a backup whose manifest records
	// another UID (an earlier object of the same name) or none is refused.
	UID string
}

// RemoveResult is what Remove did; as JSON it is the cleanup Job's termination message.
type RemoveResult struct {
	// Removed are the directories removed, relative to the root: the backup first, then
	// the leftovers of interrupted attempts.
	Removed []string `json:"removed,omitempty"`
	// Bytes is the sum of the sizes of the files removed.
	Bytes int64 `json:"bytes"`
	// NotFound is true when there was nothing to remove (the backup may never have written
	// anything); that is a success.
	NotFound bool `json:"notFound"`
	// Refused is true when the error is an ErrRefused: nothing was removed, and a person
	// has to look before a retry can succeed.
	Refused bool `json:"refused,omitempty"`
	// Error is the failure, set by the caller that reports the result.
	Error string `json:"error,omitempty"`
}

// Summary is the termination message: the result as JSON, kept under Kubernetes' 4096
// bytes by dropping the list of paths (the count of bytes stays) when needed.
func (r RemoveResult) Summary() []byte {
	return terminationJSON(r, func(r RemoveResult) RemoveResult {
		r.Removed, r.Error = nil, clipError(r.Error)
		return r
	})
}

// leftoverSuffix is the random part of a leftover's name: 6 bytes in hex, as Begin and
// Remove make them. Matching it exactly keeps the leftovers of a backup named
// "a.partial-x" (".a.partial-x.partial-<hex>") from looking like those of "a".
var leftoverSuffix = regexp.MustCompile(`^[0-9a-f]{12}$`)

// leftoverInfixes are what follows ".<name>" in the names of directories that are ours
// by name alone: ".partial-" is a backup that was never committed (Begin), ".removing-"
// a backup whose removal was interrupted (Remove renames the backup there first).
var leftoverInfixes = []string{".partial-", ".removing-"}

// isLeftover says whether the entry of the namespace directory is a leftover of name.
func isLeftover(entry, name string) bool {
	for _, infix := range leftoverInfixes {
		prefix := "." + name + infix
		if strings.HasPrefix(entry, prefix) && leftoverSuffix.MatchString(entry[len(prefix):]) {
			return true
		}
	}
	return false
}

// Remove deletes the backup <Root>/<Namespace>/<Name> and the leftovers of interrupted
// attempts beside it, when the OvercloudBackup is deleted with deletionPolicy: Delete.
// Data must never go by mistake, so everything is checked before anything is removed,
// and a backup is refused (ErrRefused) when it is not a real directory, has no readable
// manifest, or its manifest names another object (UID, namespace or name). Finding
// nothing is a success, reported as NotFound. The caller runs it only once no dump of
// the backup is running: a leftover being written to would be removed under the writer.
func Remove(ctx context.Context, cfg RemoveConfig) (RemoveResult, error) {
	var res RemoveResult
	// 1. Find and check everything; refuse before anything is removed.
	found, leftovers, err := findBackup(cfg)
	if err != nil {
		res.Refused = errors.Is(err, ErrRefused)
		return res, err
	}
	if !found && len(leftovers) == 0 {
		res.NotFound = true
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	nsDir := filepath.Join(cfg.Root, cfg.Namespace)

	// 2. Move the backup out of its name at once, so that an interrupted removal leaves no
	// backup without its manifest (which a retry would refuse), only a leftover.
	type target struct{ dir, shown string }
	targets := make([]target, 0, len(leftovers)+1)
	if found {
		trash, err := moveAside(nsDir, cfg.Name)
		if err != nil {
			return res, err
		}
		targets = append(targets, target{trash, filepath.Join(cfg.Namespace, cfg.Name)})
	}
	for _, l := range leftovers {
		targets = append(targets, target{l, filepath.Join(cfg.Namespace, l)})
	}

	// 3. Remove, counting the bytes first.
	for _, t := range targets {
		dir := filepath.Join(nsDir, t.dir)
		n, err := treeBytes(ctx, dir)
		if err != nil {
			return res, fmt.Errorf("reading %s before removing it: %w", t.shown, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return res, fmt.Errorf("removing %s (a retry removes what is left): %w", t.shown, err)
		}
		res.Removed = append(res.Removed, t.shown)
		res.Bytes += n
	}
	// The namespace's directory stays, even empty: other backups may be writing there.
	if err := syncDir(nsDir); err != nil {
		return res, fmt.Errorf("syncing %s: %w", nsDir, err)
	}
	return res, nil
}

// findBackup checks the names, then looks in the namespace's directory: it returns
// whether the backup exists (checked to be this object's) and the names of its
// leftovers, sorted. A missing namespace directory is nothing found.
func findBackup(cfg RemoveConfig) (found bool, leftovers []string, err error) {
	if err := cfg.validate(); err != nil {
		return false, nil, err
	}
	// A volume that is not mounted would look like nothing to remove, and its data would be
	// left behind for good.
	if st, err := os.Stat(cfg.Root); err != nil {
		return false, nil, fmt.Errorf("the backup volume is not at %s: %w; nothing was removed", cfg.Root, err)
	} else if !st.IsDir() {
		return false, nil, fmt.Errorf("the backup volume is not at %s: it is %s; nothing was removed", cfg.Root, describe(st.Mode()))
	}
	nsDir := filepath.Join(cfg.Root, cfg.Namespace)
	st, err := os.Lstat(nsDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("checking %s: %w", nsDir, err)
	case !st.IsDir():
		return false, nil, refuse(cfg.Namespace, "the namespace's directory is %s, not a directory", describe(st.Mode()))
	}
	entries, err := os.ReadDir(nsDir) // sorted by name
	if err != nil {
		return false, nil, fmt.Errorf("listing %s: %w", nsDir, err)
	}
	for _, e := range entries {
		switch {
		case e.Name() == cfg.Name:
			found = true
		case isLeftover(e.Name(), cfg.Name):
			if !e.Type().IsDir() {
				return false, nil, refuse(filepath.Join(cfg.Namespace, e.Name()),
					"it is %s, where the agent only ever makes directories", describe(e.Type()))
			}
			leftovers = append(leftovers, e.Name())
		}
	}
	if found {
		if err := checkOwned(filepath.Join(nsDir, cfg.Name), filepath.Join(cfg.Namespace, cfg.Name), cfg); err != nil {
			return false, nil, err
		}
	}
	return found, leftovers, nil
}

// validate refuses names that are not Kubernetes names: only those build paths that stay
// inside the namespace's directory and cannot be a leftover or "..".
func (cfg RemoveConfig) validate() error {
	if cfg.Root == "" {
		return fmt.Errorf("%w: no root given; nothing was removed", ErrRefused)
	}
	if cfg.UID == "" {
		return fmt.Errorf("%w: no OvercloudBackup UID given: it is what shows that a backup belongs to the object; nothing was removed",
			ErrRefused)
	}
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return fmt.Errorf("%w: namespace %q is not a valid namespace name (%s); nothing was removed",
			ErrRefused, cfg.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(cfg.Name); len(errs) > 0 {
		return fmt.Errorf("%w: name %q is not a valid object name (%s); nothing was removed",
			ErrRefused, cfg.Name, strings.Join(errs, "; "))
	}
	return nil
}

// refuse is the ErrRefused for the path (relative to the root), saying what was found.
func refuse(rel, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s; nothing was removed", ErrRefused, rel, fmt.Sprintf(format, args...))
}

// describe names a file's type for a person.
func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file (" + m.Type().String() + ")"
}

// checkOwned returns nil when dir is a real directory whose manifest names the object.
func checkOwned(dir, shown string, cfg RemoveConfig) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking %s: %w", shown, err)
	}
	if !st.IsDir() {
		return refuse(shown, "it is %s, not a backup directory", describe(st.Mode()))
	}
	id, err := readIdentity(dir)
	if err != nil {
		return refuse(shown, "no readable %s (%v), so nothing shows that it belongs to this OvercloudBackup", ManifestName, err)
	}
	switch {
	case id.UID == "":
		return refuse(shown, "its %s records no OvercloudBackup UID, so nothing shows that it belongs to this one", ManifestName)
	case id.UID != cfg.UID:
		return refuse(shown, "its %s records the OvercloudBackup with UID %s, not %s (an earlier object of the same name?)",
			ManifestName, id.UID, cfg.UID)
	case id.Namespace != "" && id.Namespace != cfg.Namespace, id.Name != "" && id.Name != cfg.Name:
		return refuse(shown, "its %s records the OvercloudBackup %s/%s (was the directory moved?)", ManifestName, id.Namespace, id.Name)
	}
	return nil
}

// readIdentity reads only the manifest's format version and identity, so that a backup of
// another format version of the agent can still be removed. The manifest must be a
// regular file: a symbolic link could borrow another backup's manifest.
func readIdentity(dir string) (Identity, error) {
	path := filepath.Join(dir, ManifestName)
	st, err := os.Lstat(path)
	if err != nil {
		return Identity{}, err
	}
	if !st.Mode().IsRegular() {
		return Identity{}, fmt.Errorf("it is %s", describe(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0) //nolint:gosec // G304: a checked name in a checked directory
	if err != nil {
		return Identity{}, err
	}
	defer func() { _ = f.Close() }()
	var m struct {
		FormatVersion int      `json:"formatVersion"`
		Backup        Identity `json:"backup"`
	}
	if err := json.NewDecoder(io.LimitReader(f, MaxManifestBytes)).Decode(&m); err != nil {
		return Identity{}, fmt.Errorf("not a manifest: %w", err)
	}
	if m.FormatVersion < 1 {
		return Identity{}, errors.New("not a manifest: no formatVersion")
	}
	return m.Backup, nil
}

// moveAside renames the backup <nsDir>/<name> to a ".removing-" leftover, durably, and
// returns the leftover's name. RENAME_NOREPLACE: nothing is ever replaced.
func moveAside(nsDir, name string) (string, error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", err
	}
	trash := "." + name + ".removing-" + hex.EncodeToString(suffix[:])
	err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(nsDir, name), unix.AT_FDCWD, filepath.Join(nsDir, trash), unix.RENAME_NOREPLACE)
	if err != nil {
		return "", fmt.Errorf("moving %s aside to remove it: %w", name, err)
	}
	if err := syncDir(nsDir); err != nil {
		return "", fmt.Errorf("syncing %s: %w", nsDir, err)
	}
	return trash, nil
}

// treeBytes is the sum of the sizes of the regular files under dir; symbolic links are
// not followed.
func treeBytes(ctx context.Context, dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
