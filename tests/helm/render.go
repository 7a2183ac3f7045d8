// render: what `helm template` does with a chart, for the tests (no helm
// binary is packaged for Debian). Built from Debian's Go packages only:
// text/template, sprig (Helm's function library) and yaml.v3, in GOPATH
// mode offline:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o render tests/helm/render.go
//
// usage: render [-n NAMESPACE] [--name RELEASE] [-f VALUES.yaml]... [--set K=V]...
//
//	[--values-out FILE] CHART-DIR
//
// It implements what helm/kcr uses of Helm: .Values (the chart's
// values.yaml, then each -f file, then each --set, merged as Helm merges
// them: maps key by key, everything else replaced; a null removes a key),
// .Release (Name, Namespace, Service, IsInstall, Revision), .Chart (from
// Chart.yaml), .Capabilities (KubeVersion, APIVersions.Has), .Template,
// and the functions include, tpl, toYaml, fromYaml, toJson, required, fail
// and lookup (always empty, as in `helm template`). The templates are every
// templates/*.yaml and *.tpl; files whose name starts with '_' define
// templates and render nothing. The output is the multi-document YAML
// `helm template` prints, each document under a "# Source:" comment;
// documents that render empty are left out. The merged values are written
// to --values-out (JSON) so that the caller can validate them against
// values.schema.json, as helm does before rendering.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type options struct {
	name, namespace, valuesOut, chart string
	files, sets                       []string
}

func parseArgs(args []string) (*options, error) {
	o := &options{name: "kcr", namespace: "default"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch a {
		case "-n", "--namespace":
			o.namespace, err = next()
		case "--name":
			o.name, err = next()
		case "-f", "--values":
			var v string
			v, err = next()
			o.files = append(o.files, v)
		case "--set":
			var v string
			v, err = next()
			o.sets = append(o.sets, v)
		case "--values-out":
			o.valuesOut, err = next()
		default:
			if strings.HasPrefix(a, "-") || o.chart != "" {
				return nil, fmt.Errorf("unexpected argument %q", a)
			}
			o.chart = a
		}
		if err != nil {
			return nil, err
		}
	}
	if o.chart == "" {
		return nil, errors.New("usage: render [-n NS] [--name NAME] [-f FILE]... [--set K=V]... CHART")
	}
	return o, nil
}

// ---- values --------------------------------------------------------------

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// merge: src over dst, maps key by key, a null in src deletes the key.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// setValue: a --set a.b.c=v, as Helm's strvals parses the simple cases
// (dotted keys, name[i] list indexes, true/false/null/integers typed,
// a\.b for a literal dot, {a,b} lists).
func setValue(vals map[string]interface{}, expr string) error {
	eq := strings.Index(expr, "=")
	if eq <= 0 {
		return fmt.Errorf("--set %q: no KEY=VALUE", expr)
	}
	var keys []string
	cur := ""
	key := expr[:eq]
	for i := 0; i < len(key); i++ {
		if key[i] == '\\' && i+1 < len(key) {
			cur += string(key[i+1])
			i++
		} else if key[i] == '.' {
			keys = append(keys, cur)
			cur = ""
		} else {
			cur += string(key[i])
		}
	}
	keys = append(keys, cur)
	val := typed(expr[eq+1:])
	m := vals
	for i, k := range keys {
		last := i == len(keys)-1
		idx := -1
		if b := strings.Index(k, "["); b > 0 && strings.HasSuffix(k, "]") {
			n, err := strconv.Atoi(k[b+1 : len(k)-1])
			if err != nil || n < 0 {
				return fmt.Errorf("--set %q: bad index", expr)
			}
			k, idx = k[:b], n
		}
		if idx >= 0 {
			l, _ := m[k].([]interface{})
			for len(l) <= idx {
				l = append(l, nil)
			}
			if last {
				l[idx] = val
				m[k] = l
				return nil
			}
			sub, ok := l[idx].(map[string]interface{})
			if !ok {
				sub = map[string]interface{}{}
				l[idx] = sub
			}
			m[k] = l
			m = sub
			continue
		}
		if last {
			if val == nil {
				delete(m, k)
			} else {
				m[k] = val
			}
			return nil
		}
		sub, ok := m[k].(map[string]interface{})
		if !ok {
			sub = map[string]interface{}{}
			m[k] = sub
		}
		m = sub
	}
	return nil
}

func typed(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || s[0] != '0') {
		return n
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		var l []interface{}
		for _, e := range strings.Split(s[1:len(s)-1], ",") {
			l = append(l, typed(e))
		}
		return l
	}
	return s
}

// ---- templates -----------------------------------------------------------

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func funcs(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = func(apiVersion, kind, ns, name string) map[string]interface{} {
		return map[string]interface{}{}
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := (*t).ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := (*t).Clone()
		if err != nil {
			return "", err
		}
		c, err = c.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := c.Execute(&buf, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	return f
}

type capabilities struct {
	KubeVersion struct{ Version, Major, Minor, GitVersion string }
	APIVersions apiVersions
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func render(o *options) (string, error) {
	chartMeta, err := readYAMLMap(filepath.Join(o.chart, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	vals, err := readYAMLMap(filepath.Join(o.chart, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range o.files {
		m, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		vals = merge(vals, m)
	}
	for _, s := range o.sets {
		if err := setValue(vals, s); err != nil {
			return "", err
		}
	}
	if o.valuesOut != "" {
		b, err := json.Marshal(vals)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(o.valuesOut, b, 0o644); err != nil {
			return "", err
		}
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	caps := capabilities{APIVersions: apiVersions{"v1", "apps/v1", "batch/v1",
		"networking.k8s.io/v1", "policy/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1"}}
	caps.KubeVersion.Version, caps.KubeVersion.GitVersion = "v1.30.0", "v1.30.0"
	caps.KubeVersion.Major, caps.KubeVersion.Minor = "1", "30"

	paths, _ := filepath.Glob(filepath.Join(o.chart, "templates", "*"))
	sort.Strings(paths)
	var t *template.Template
	t = template.New("chart").Option("missingkey=zero").Funcs(funcs(&t))
	var outputs []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".tpl") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		name := filepath.Join(filepath.Base(o.chart), "templates", filepath.Base(p))
		if _, err := t.New(name).Parse(string(b)); err != nil {
			return "", err
		}
		if !strings.HasPrefix(filepath.Base(p), "_") && strings.HasSuffix(p, ".yaml") {
			outputs = append(outputs, name)
		}
	}
	var out strings.Builder
	for _, name := range outputs {
		data := map[string]interface{}{
			"Values": vals,
			"Release": map[string]interface{}{"Name": o.name, "Namespace": o.namespace,
				"Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Chart":        chart,
			"Capabilities": caps,
			"Template":     map[string]interface{}{"Name": name, "BasePath": filepath.Dir(name)},
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		for _, doc := range strings.Split(buf.String(), "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	return out.String(), nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(2)
	}
	s, err := render(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	// every document must be YAML a client can read
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var v interface{}
		if err := dec.Decode(&v); err != nil {
			if err.Error() == "EOF" {
				break
			}
			fmt.Fprintln(os.Stderr, "Error: rendered YAML:", err)
			fmt.Fprint(os.Stderr, s)
			os.Exit(1)
		}
	}
	fmt.Print(s)
}
