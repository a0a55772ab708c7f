package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

// checkImage compares a built image with the Dockerfile's runtime stage: the run config
// (user, entrypoint, command, environment), every package installed (dpkg's status), the
// user and group that useradd creates, and the binary in place and executable. It returns
// every difference found, nil when there is none.
func checkImage(imagePath string, s *Spec) ([]string, error) {
	want := []string{"/var/lib/dpkg/status", "/etc/passwd", "/etc/group", s.Binary, s.Entrypoint[0]}
	rc, files, err := readImage(imagePath, want)
	if err != nil {
		return nil, err
	}
	var diffs []string
	d := func(format string, a ...any) { diffs = append(diffs, fmt.Sprintf(format, a...)) }
	exp := runConfigFromSpec(s)
	if rc.User != exp.User {
		d("USER: image %q, Dockerfile %q", rc.User, exp.User)
	}
	if !slices.Equal(rc.Entrypoint, exp.Entrypoint) {
		d("ENTRYPOINT: image %q, Dockerfile %q", rc.Entrypoint, exp.Entrypoint)
	}
	if !slices.Equal(rc.Cmd, exp.Cmd) {
		d("CMD: image %q, Dockerfile %q", rc.Cmd, exp.Cmd)
	}
	if !slices.Equal(rc.Env, exp.Env) {
		d("ENV: image %q, Dockerfile %q", rc.Env, exp.Env)
	}
	if rc.WorkingDir != exp.WorkingDir {
		d("WORKDIR: image %q, Dockerfile %q", rc.WorkingDir, exp.WorkingDir)
	}
	if f := files["var/lib/dpkg/status"]; f == nil {
		d("no /var/lib/dpkg/status in the image")
	} else {
		installed := dpkgInstalled(string(f.data))
		for _, p := range s.Packages {
			if !installed[p] {
				d("package %s (Dockerfile) is not installed in the image", p)
			}
		}
	}
	diffs = append(diffs, checkUser(files, s)...)
	if f := files[strings.TrimPrefix(s.Binary, "/")]; f == nil || f.data == nil || f.mode&0o111 == 0 {
		d("%s (COPY destination) is not an executable file in the image", s.Binary)
	}
	if files[strings.TrimPrefix(s.Entrypoint[0], "/")] == nil {
		d("ENTRYPOINT %s does not exist in the image", s.Entrypoint[0])
	}
	return diffs, nil
}

// checkUser checks /etc/passwd and /etc/group against useradd's --uid, --shell and
// --user-group, and the USER instruction.
func checkUser(files map[string]*imageFile, s *Spec) []string {
	var diffs []string
	name := s.UserName()
	uid, gid, _ := strings.Cut(s.User, ":")
	passwd, group := files["etc/passwd"], files["etc/group"]
	if passwd == nil || group == nil {
		return []string{"no /etc/passwd or /etc/group in the image"}
	}
	var entry []string
	for _, l := range strings.Split(string(passwd.data), "\n") {
		if f := strings.Split(l, ":"); len(f) == 7 && f[0] == name {
			entry = f
		}
	}
	if entry == nil {
		return []string{fmt.Sprintf("user %s (useradd) is not in the image's /etc/passwd", name)}
	}
	if want := flagValue(s.UserAdd, "--uid"); want != "" && entry[2] != want {
		diffs = append(diffs, fmt.Sprintf("user %s has uid %s, useradd says %s", name, entry[2], want))
	}
	if want := flagValue(s.UserAdd, "--shell"); want != "" && entry[6] != want {
		diffs = append(diffs, fmt.Sprintf("user %s has shell %s, useradd says %s", name, entry[6], want))
	}
	if entry[2] != uid {
		diffs = append(diffs, fmt.Sprintf("USER %s, but user %s has uid %s", s.User, name, entry[2]))
	}
	if gid != "" && entry[3] != gid {
		diffs = append(diffs, fmt.Sprintf("USER %s, but user %s has gid %s (useradd --user-group cannot allocate a gid above"+
			" GID_MAX 60000: create the group with groupadd --gid)", s.User, name, entry[3]))
	}
	if gid != "" && !hasGroup(string(group.data), "", gid) {
		diffs = append(diffs, fmt.Sprintf("USER %s, but no group has gid %s in /etc/group", s.User, gid))
	}
	if slices.Contains(s.UserAdd, "--user-group") && !hasGroup(string(group.data), name, entry[3]) {
		diffs = append(diffs, fmt.Sprintf("group %s (useradd --user-group) with gid %s is not in /etc/group", name, entry[3]))
	}
	return diffs
}

// hasGroup reports whether /etc/group has a group with that gid (and name, unless "").
func hasGroup(group, name, gid string) bool {
	for _, l := range strings.Split(group, "\n") {
		if f := strings.Split(l, ":"); len(f) == 4 && f[2] == gid && (name == "" || f[0] == name) {
			return true
		}
	}
	return false
}

// flagValue returns the value of --flag VALUE or --flag=VALUE in argv.
func flagValue(argv []string, flag string) string {
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// dpkgInstalled returns the packages dpkg's status file lists as installed.
func dpkgInstalled(status string) map[string]bool {
	out := map[string]bool{}
	var pkg string
	sc := bufio.NewScanner(strings.NewReader(status))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Package: "):
			pkg = strings.TrimPrefix(l, "Package: ")
		case l == "Status: install ok installed" && pkg != "":
			out[pkg] = true
		case l == "":
			pkg = ""
		}
	}
	return out
}
