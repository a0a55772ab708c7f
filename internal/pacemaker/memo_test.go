package pacemaker

import (
	"bytes"
	"testing"
)

// TestMemo: a document that differs from the last only by crm_mon's <last_update> is
// not parsed again; any other difference, other options, or an error are.
func TestMemo(t *testing.T) {
	healthy := readFixture(t, "bundle-healthy")
	demoted := readFixture(t, "bundle-galera-demoted")
	later := bytes.Replace(healthy, []byte(`Mon Jan  5 10:02:42 2026`), []byte(`Mon Jan  5 10:03:52 2026`), 1)
	if bytes.Equal(later, healthy) {
		t.Fatal("the fixture has no <last_update> to change")
	}
	opts := Options{VIP: "10.77.0.10"}
	var m Memo
	first, err := m.Parse(healthy, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		opts   Options
		reused bool
	}{
		{"the same document", healthy, opts, true},
		{"a second later", later, opts, true},
		{"a Pacemaker 2.1 document, with its <pacemakerd>", withPacemakerd(later, "17:02:49"), opts, false},
		{"its <pacemakerd> a second later", withPacemakerd(later, "17:02:50"), opts, true},
		{"other options", healthy, Options{VIP: "10.77.0.99"}, false},
		{"the healthy one again, with the first options", healthy, opts, false},
		{"and again", later, opts, true},
	} {
		st, err := m.Parse(tc.data, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := st == first; got != tc.reused {
			t.Errorf("%s: reused %v, want %v", tc.name, got, tc.reused)
		}
		first = st
	}

	// A changed document is parsed: the demoted Galera shows.
	st, err := m.Parse(demoted, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse(demoted, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st == first || len(st.Galera) != len(want.Galera) {
		t.Fatalf("a changed document was not parsed anew")
	}
	for i := range want.Galera {
		if st.Galera[i] != want.Galera[i] {
			t.Errorf("instance %d: %+v, want %+v", i, st.Galera[i], want.Galera[i])
		}
	}

	// An error is never remembered, and does not replace the last good parse.
	bad := bytes.Replace(demoted, []byte("<summary>"), []byte("<summery>"), 1)
	if _, err := m.Parse(bad, opts); err == nil {
		t.Fatal("a document without <summary> parsed")
	}
	if _, err := m.Parse(bad, opts); err == nil {
		t.Fatal("the error was remembered as a success")
	}
	again, err := m.Parse(demoted, opts)
	if err != nil || again != st {
		t.Errorf("after an error, the last good document: %p %v, want the remembered %p", again, err, st)
	}
}

func TestWithoutVolatile(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<a><last_update time="x"/><b/></a>`, `<a><b/></a>`},
		{`<a><b/></a>`, `<a><b/></a>`},
		{`<a><last_update time="x"`, `<a><last_update time="x"`}, // unterminated: left as is
		{`<last_update time="1"/><last_update time="2"/>`, `<last_update time="2"/>`},
		{`<a><pacemakerd state="running" last_updated="x"/><last_update time="y"/><b/></a>`, `<a><b/></a>`},
		{`<a><pacemakerd state="running"/><b/></a>`, `<a><b/></a>`},
	} {
		if got := string(withoutVolatile([]byte(tc.in))); got != tc.want {
			t.Errorf("withoutVolatile(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// BenchmarkMemoUnchanged is a watch's steady state: the same cluster, a new <last_update>
// each time. Compare with BenchmarkParse (the same document parsed every time).
func BenchmarkMemoUnchanged(b *testing.B) {
	data := readFixture(b, "bundle-healthy")
	stamps := [][]byte{
		bytes.Replace(data, []byte(`10:02:42`), []byte(`10:02:43`), 1),
		bytes.Replace(data, []byte(`10:02:42`), []byte(`10:02:44`), 1),
	}
	var m Memo
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Parse(stamps[i%2], Options{VIP: "10.77.0.10"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// withPacemakerd is doc with Pacemaker 2.1's <pacemakerd> element, updated at the time
// given, after its <crm_mon> element.
func withPacemakerd(doc []byte, at string) []byte {
	i := bytes.Index(doc, []byte("<summary>"))
	el := `<pacemakerd sys_from="pacemakerd" state="running" last_updated="2026-01-05 ` + at + `Z"/>` + "\n  "
	return append(append(append([]byte{}, doc[:i]...), el...), doc[i:]...)
}
