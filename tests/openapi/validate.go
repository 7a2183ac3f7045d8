// validate checks kcr serve's OpenAPI document (GET /openapi.json) with
// kin-openapi: that it is a valid OpenAPI 3 document, and, given a running
// server, that every operation in it is served and answers as documented.
//
//	validate -doc FILE
//	validate -url URL -key KEY -admin-key KEY
//
// With -url, the document is fetched without a key, then every operation
// is sent a real request: path parameters are real ids made first (a
// session and a file from POST /upload, a Python state from POST /exec, a
// managed key from POST /admin/keys), deletions come last. Each request
// is validated against the document (openapi3filter.ValidateRequest) and
// so is each reply (ValidateResponse), whose status must be one the
// operation lists (not only "default"). Beyond the success, secured
// operations are sent no key (401), admin operations an ordinary key
// (403), operations with path parameters ids that cannot exist (a 4xx the
// operation lists), and each documented path every method it does not
// document (405: the document claims nothing the server does not serve,
// and the server serves nothing there the document does not claim). It
// fails on a 404 or 405 for a documented operation: a route missing.
//
// Built offline from Debian's golang-github-getkin-kin-openapi-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build tests/openapi/validate.go
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

type checker struct {
	base, key, admin string
	doc              *openapi3.T
	client           *http.Client
	ids              map[string]string // path parameter -> a real id
	state            []byte            // a session's Python state
	failed, checked  int
}

// op is one operation of the document.
type op struct {
	path, method string
	item         *openapi3.PathItem
	op           *openapi3.Operation
}

// reply is what the server answered.
type reply struct {
	status int
	header http.Header
	body   []byte
}

var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func main() {
	docFile := flag.String("doc", "", "the document (default: GET <url>/openapi.json)")
	base := flag.String("url", "", "the server's URL, with its base path")
	key := flag.String("key", "", "an ordinary API key")
	admin := flag.String("admin-key", "", "the admin key")
	flag.Parse()
	c := &checker{base: strings.TrimRight(*base, "/"), key: *key, admin: *admin,
		ids: map[string]string{}, client: &http.Client{Timeout: 120 * time.Second,
			// a redirect is a reply to check, not to follow
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}}
	// the dashboard's page and assets: their bytes, as text
	for _, t := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(t, openapi3filter.FileBodyDecoder)
	}
	if err := c.load(*docFile); err != nil {
		fmt.Printf("FAIL document: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("ok the document is valid OpenAPI %s: %d paths\n", c.doc.OpenAPI, len(c.doc.Paths))
	if c.base != "" {
		c.run()
	}
	fmt.Printf("# %d checks, %d failed\n", c.checked, c.failed)
	if c.failed > 0 {
		os.Exit(1)
	}
}

func (c *checker) load(file string) error {
	var data []byte
	var err error
	if file != "" {
		data, err = os.ReadFile(file)
	} else if c.base != "" {
		data, err = c.fetchDoc()
	} else {
		return fmt.Errorf("give -doc or -url")
	}
	if err != nil {
		return err
	}
	loader := openapi3.NewLoader()
	if c.doc, err = loader.LoadFromData(data); err != nil {
		return err
	}
	return c.doc.Validate(context.Background())
}

// The document needs no key.
func (c *checker) fetchDoc() ([]byte, error) {
	r, err := c.send("GET", "/openapi.json", "", "", nil)
	if err != nil {
		return nil, err
	}
	if r.status != 200 {
		return nil, fmt.Errorf("GET /openapi.json without a key: %d %s", r.status, r.body)
	}
	return r.body, nil
}

func (c *checker) fail(format string, a ...interface{}) {
	c.failed++
	fmt.Printf("FAIL "+format+"\n", a...)
}

func (c *checker) send(method, path, key, ctype string, body []byte) (*reply, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return &reply{resp.StatusCode, resp.Header, data}, err
}

// ---- fixtures -----------------------------------------------------------

func (c *checker) sendJSON(method, path, key string, in interface{}, out interface{}) error {
	body, _ := json.Marshal(in)
	r, err := c.send(method, path, key, "application/json", body)
	if err != nil {
		return err
	}
	if r.status >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, r.status, r.body)
	}
	return json.Unmarshal(r.body, out)
}

func uploadBody() (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	f, _ := w.CreateFormFile("file", "openapi.txt")
	f.Write([]byte("written by tests/openapi/validate.go\n"))
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// A session with a file and a Python state, and a managed key.
func (c *checker) fixtures() error {
	var up struct {
		SessionID string `json:"session_id"`
		Files     []struct {
			FileID string `json:"fileId"`
		} `json:"files"`
	}
	ctype, body := uploadBody()
	r, err := c.send("POST", "/upload", c.key, ctype, body)
	if err == nil && r.status != 200 {
		err = fmt.Errorf("POST /upload: %d %s", r.status, r.body)
	}
	if err == nil {
		err = json.Unmarshal(r.body, &up)
	}
	if err != nil || len(up.Files) != 1 {
		return fmt.Errorf("upload: %v", err)
	}
	c.ids["session_id"], c.ids["file_id"] = up.SessionID, up.Files[0].FileID
	var ex map[string]interface{}
	if err := c.sendJSON("POST", "/exec", c.key, map[string]string{"lang": "py",
		"code": "x = 42", "session_id": up.SessionID}, &ex); err != nil {
		return err
	}
	if r, err = c.send("GET", "/state/"+up.SessionID, c.key, "", nil); err != nil || r.status != 200 {
		return fmt.Errorf("GET /state: %v %v", err, r)
	}
	c.state = r.body
	var key struct {
		ID string `json:"id"`
	}
	if err := c.sendJSON("POST", "/admin/keys", c.admin, map[string]string{"name": "openapi"},
		&key); err != nil {
		return err
	}
	c.ids["key_id"] = key.ID
	return nil
}

// ---- requests -----------------------------------------------------------

// Every operation, deletions last, and the session's own deletion last of all.
func (c *checker) operations() []op {
	var ops []op
	for path, item := range c.doc.Paths {
		for method, o := range item.Operations() {
			ops = append(ops, op{path, method, item, o})
		}
	}
	rank := func(o op) int {
		switch {
		case o.method != "DELETE":
			return 0
		case o.path == "/admin/sessions/{session_id}":
			return 2
		}
		return 1
	}
	sort.Slice(ops, func(i, j int) bool {
		if rank(ops[i]) != rank(ops[j]) {
			return rank(ops[i]) < rank(ops[j])
		}
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	return ops
}

// Whether the operation needs a key (a "{}" requirement: it takes one).
func (c *checker) secured(o op) bool {
	if o.op.Security == nil {
		return true
	}
	for _, r := range *o.op.Security {
		if len(r) == 0 {
			return false
		}
	}
	return len(*o.op.Security) > 0
}

func (c *checker) takesKey(o op) bool {
	return o.op.Security == nil || len(*o.op.Security) > 0
}

// Admin operations are those that can answer 403.
func (c *checker) adminOnly(o op) bool {
	return o.op.Responses.Get(403) != nil
}

// The path with its parameters filled: real ids, or bad.
func (c *checker) fill(o op, bad string) (string, map[string]string) {
	params := map[string]string{}
	path := o.path
	for _, p := range append(o.item.Parameters, o.op.Parameters...) {
		if p.Value == nil || p.Value.In != "path" {
			continue
		}
		v, ok := c.ids[p.Value.Name]
		if !ok {
			v = "unknown"
		}
		if bad != "" {
			v = bad
		}
		params[p.Value.Name] = v
		path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", v)
	}
	return path, params
}

// The query: the first value of each parameter with an enum.
func query(o op) string {
	var q []string
	for _, p := range o.op.Parameters {
		if p.Value != nil && p.Value.In == "query" && p.Value.Schema != nil &&
			p.Value.Schema.Value != nil && len(p.Value.Schema.Value.Enum) > 0 {
			q = append(q, fmt.Sprintf("%s=%v", p.Value.Name, p.Value.Schema.Value.Enum[0]))
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + strings.Join(q, "&")
}

// A body for the operation's request schema.
func (c *checker) body(o op) (string, []byte) {
	if o.op.RequestBody == nil || o.op.RequestBody.Value == nil {
		return "", nil
	}
	var name string
	for _, mt := range o.op.RequestBody.Value.Content {
		if mt.Schema != nil {
			name = mt.Schema.Ref[strings.LastIndex(mt.Schema.Ref, "/")+1:]
		}
	}
	var v interface{}
	switch name {
	case "UploadRequest":
		return uploadBody()
	case "StateBlob":
		return "application/octet-stream", c.state
	case "ExecRequest":
		v = map[string]string{"lang": "py", "code": "print(6 * 7)",
			"session_id": c.ids["session_id"]}
	case "ApiKeyRequest":
		v = map[string]interface{}{"name": "openapi", "rate_limits": map[string]int{"per_day": 0}}
	case "PoolWarmupRequest":
		v = map[string]interface{}{"languages": []string{"py"}, "timeout_ms": 10000}
	case "PoolDrainRequest":
		v = map[string]interface{}{"languages": []string{"r"}}
	default:
		v = map[string]interface{}{}
	}
	data, _ := json.Marshal(v)
	return "application/json", data
}

func (c *checker) input(o op, path string, params map[string]string, key, ctype string,
	body []byte) *openapi3filter.RequestValidationInput {
	req, _ := http.NewRequest(o.method, c.base+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	return &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route: &routers.Route{Spec: c.doc, Path: o.path, PathItem: o.item,
			Method: o.method, Operation: o.op},
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
}

// One request: sent, its reply validated; want is a status, or 0 for any
// success, or -1 for any 4xx.
func (c *checker) check(o op, what, key string, bad string, want int) {
	path, params := c.fill(o, bad)
	path += query(o)
	ctype, body := c.body(o)
	in := c.input(o, path, params, key, ctype, body)
	name := fmt.Sprintf("%s %s (%s)", o.method, o.path, what)
	c.checked++
	if want == 0 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.fail("%s: the request does not match the document: %v", name, err)
			return
		}
	}
	r, err := c.send(o.method, path, key, ctype, body)
	if err != nil {
		c.fail("%s: %v", name, err)
		return
	}
	if msg := c.verdict(o, r, want); msg != "" {
		c.fail("%s: %s: %d %.300s", name, msg, r.status, r.body)
		return
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.status, Header: r.header,
		Body: io.NopCloser(bytes.NewReader(r.body)), Options: in.Options})
	if err != nil {
		c.fail("%s: the reply does not match the document: %v", name, err)
		return
	}
	fmt.Printf("ok %s: %d\n", name, r.status)
}

func (c *checker) verdict(o op, r *reply, want int) string {
	switch {
	case r.status == 405 || (r.status == 404 && strings.Contains(string(r.body), "no route")):
		return "not served (the route is missing)"
	case o.op.Responses.Get(r.status) == nil:
		return "a status the operation does not list"
	case want == 0 && r.status >= 400 && r.status != 503:
		return "expected a success"
	case want == -1 && (r.status < 400 || r.status >= 500):
		return "expected a 4xx"
	case want > 0 && r.status != want:
		return fmt.Sprintf("expected %d", want)
	}
	return ""
}

// The methods a documented path does not document answer 405.
func (c *checker) checkUndocumented(path string, item *openapi3.PathItem) {
	filled := path
	for name, v := range c.ids {
		filled = strings.ReplaceAll(filled, "{"+name+"}", v)
	}
	for _, m := range methods {
		if item.GetOperation(m) != nil {
			continue
		}
		c.checked++
		r, err := c.send(m, filled, c.key, "", nil)
		if err != nil || r.status != 405 {
			c.fail("%s %s (undocumented): want 405, got %v %v", m, path, err, r)
			continue
		}
		fmt.Printf("ok %s %s (undocumented): 405\n", m, path)
	}
}

func (c *checker) run() {
	if err := c.fixtures(); err != nil {
		c.fail("fixtures: %v", err)
		return
	}
	paths := make([]string, 0, len(c.doc.Paths))
	for p := range c.doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		c.checkUndocumented(p, c.doc.Paths[p])
	}
	for _, o := range c.operations() {
		if c.secured(o) {
			c.check(o, "no key", "", "", 401)
		}
		if c.adminOnly(o) {
			c.check(o, "an ordinary key", c.key, "", 403)
		}
		// (a public route checks nothing of its ids: the CORS preflight)
		if strings.Contains(o.path, "{") && c.secured(o) {
			c.check(o, "ids that cannot exist", c.keyFor(o), "no!such!id", -1)
		}
	}
	for _, o := range c.operations() {
		c.check(o, "success", c.keyFor(o), "", 0)
	}
}

func (c *checker) keyFor(o op) string {
	if c.adminOnly(o) {
		return c.admin
	}
	if c.takesKey(o) {
		return c.key
	}
	return ""
}
