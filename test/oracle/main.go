// The reference evaluator for KIDP's CEL engine: compiles and evaluates expressions exactly
// as a v1.37 kube-apiserver does for ValidatingAdmissionPolicy (k8s.io/apiserver's
// composited compiler over the base environment of 1.37, variables, params, request built
// from admission attributes, runtime cost budget), and prints each outcome in the JSON
// shape of `kidp cel eval`: {"type","value"} or {"error","message"}.
//
// Input: JSON lines on stdin, one case each (see case below). Output: one JSON line per case.
// With -bench, it instead times each case's evaluation (compiled once) and prints ns/eval;
// with -bench-policy, one line {object, expressions} is one policy of several validations,
// and it times one admission request of all of them on a fresh copy of the object.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
)

type namedExpr struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

type requestIn struct {
	Operation   string                      `json:"operation"`
	Namespace   string                      `json:"namespace"`
	Name        string                      `json:"name"`
	Kind        metav1.GroupVersionKind     `json:"kind"`
	Resource    metav1.GroupVersionResource `json:"resource"`
	SubResource string                      `json:"subResource"`
	Username    string                      `json:"username"`
	Groups      []string                    `json:"groups"`
	DryRun      bool                        `json:"dryRun"`
}

type caseIn struct {
	ID              string          `json:"id"`
	Expression      string          `json:"expression"`
	Variables       []namedExpr     `json:"variables"`
	Object          json.RawMessage `json:"object"`
	OldObject       json.RawMessage `json:"oldObject"`
	Params          json.RawMessage `json:"params"`
	NamespaceObject json.RawMessage `json:"namespaceObject"`
	Request         *requestIn      `json:"request"`
}

type expr string

func (e expr) GetExpression() string    { return string(e) }
func (e expr) ReturnTypes() []*cel.Type { return []*cel.Type{cel.AnyType} }

type named struct{ namedExpr }

func (n named) GetExpression() string    { return n.Expression }
func (n named) ReturnTypes() []*cel.Type { return []*cel.Type{cel.AnyType} }
func (n named) GetName() string          { return n.Name }

// The control plane's version: the base environment as a 1.37 apiserver declares it.
var envSet = environment.MustBaseEnvSet(version.MajorMinor(1, 37))

func unstructuredOf(raw json.RawMessage) (*unstructured.Unstructured, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		// Objects without apiVersion/kind: decode as a plain map.
		var m map[string]any
		if err2 := json.Unmarshal(raw, &m); err2 != nil {
			return nil, err
		}
		u.Object = runtime.DeepCopyJSON(m)
	}
	return u, nil
}

type prepared struct {
	evaluator  plugincel.ConditionEvaluator
	attr       *admission.VersionedAttributes
	request    *admissionv1.AdmissionRequest
	bindings   plugincel.OptionalVariableBindings
	namespace  *corev1.Namespace
	compileErr string
}

// The authorizer of every case, a fixed table (differential.ts answers the same): alice may
// get secrets, everyone may get /healthz, checks on pods fail, everything else is denied.
var fixedAuthorizer = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	switch {
	case a.IsResourceRequest() && a.GetUser().GetName() == "alice" && a.GetVerb() == "get" && a.GetAPIGroup() == "" && a.GetResource() == "secrets":
		return authorizer.DecisionAllow, "alice reads secrets", nil
	case !a.IsResourceRequest() && a.GetPath() == "/healthz" && a.GetVerb() == "get":
		return authorizer.DecisionAllow, "public", nil
	case a.IsResourceRequest() && a.GetResource() == "pods":
		return authorizer.DecisionNoOpinion, "", errors.New("authorizer down")
	}
	return authorizer.DecisionDeny, "no rule", nil
})

// One compiler serves every case without variables; a case with variables gets its own,
// since compiling a variable stores it in the compiler.
var sharedCompiler *plugincel.CompositedCompiler

func prepare(c caseIn) (*prepared, error) {
	var compiler *plugincel.CompositedCompiler
	var err error
	if len(c.Variables) == 0 && sharedCompiler != nil {
		compiler = sharedCompiler
	} else {
		compiler, err = plugincel.NewCompositedCompiler(envSet)
		if err != nil {
			return nil, err
		}
		if len(c.Variables) == 0 {
			sharedCompiler = compiler
		}
	}
	decls := plugincel.OptionalVariableDeclarations{HasParams: true, HasAuthorizer: true}
	p := &prepared{}
	for _, v := range c.Variables {
		r := compiler.CompileAndStoreVariable(named{v}, decls, environment.NewExpressions)
		if r.Error != nil && p.compileErr == "" {
			p.compileErr = fmt.Sprintf("variable %s: %s", v.Name, r.Error.Detail)
		}
	}
	p.evaluator = compiler.CompileCondition([]plugincel.ExpressionAccessor{expr(c.Expression)}, decls, environment.NewExpressions)
	if errs := p.evaluator.CompilationErrors(); len(errs) > 0 && p.compileErr == "" {
		p.compileErr = errs[0].Error()
	}
	obj, err := unstructuredOf(c.Object)
	if err != nil {
		return nil, fmt.Errorf("object: %w", err)
	}
	old, err := unstructuredOf(c.OldObject)
	if err != nil {
		return nil, fmt.Errorf("oldObject: %w", err)
	}
	params, err := unstructuredOf(c.Params)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	r := c.Request
	if r == nil {
		r = &requestIn{Operation: "CREATE", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Username: "alice"}
	}
	gvk := schema.GroupVersionKind{Group: r.Kind.Group, Version: r.Kind.Version, Kind: r.Kind.Kind}
	gvr := schema.GroupVersionResource{Group: r.Resource.Group, Version: r.Resource.Version, Resource: r.Resource.Resource}
	var objRO, oldRO runtime.Object
	if obj != nil {
		objRO = obj
	}
	if old != nil {
		oldRO = old
	}
	attrs := admission.NewAttributesRecord(objRO, oldRO, gvk, r.Namespace, r.Name, gvr, r.SubResource, admission.Operation(r.Operation), nil, r.DryRun,
		&user.DefaultInfo{Name: r.Username, Groups: r.Groups})
	p.attr = &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(objRO), VersionedOldObject: admission.NewLazyObject(oldRO)}
	p.request = plugincel.CreateAdmissionRequest(attrs, metav1.GroupVersionResource(r.Resource), metav1.GroupVersionKind(r.Kind))
	if params != nil {
		p.bindings.VersionedParams = params
	}
	p.bindings.Authorizer = fixedAuthorizer
	if len(c.NamespaceObject) > 0 && string(c.NamespaceObject) != "null" {
		ns := &corev1.Namespace{}
		if err := json.Unmarshal(c.NamespaceObject, ns); err != nil {
			return nil, fmt.Errorf("namespaceObject: %w", err)
		}
		p.namespace = ns
	}
	return p, nil
}

func (p *prepared) run() (ref.Val, error) {
	results, _, err := p.evaluator.ForInput(context.Background(), p.attr, p.request, p.bindings, p.namespace, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return nil, err
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("internal: %d results", len(results))
	}
	if results[0].Error != nil {
		return nil, results[0].Error
	}
	return results[0].EvalResult, nil
}

const safe = 1 << 53

func intJSON(i int64) any {
	if i > -safe && i < safe {
		return i
	}
	return fmt.Sprint(i)
}

// toJSON mirrors policy-engine/cel/json.ts.
func toJSON(v ref.Val) any {
	switch x := v.(type) {
	case types.Int:
		return intJSON(int64(x))
	case types.Uint:
		if uint64(x) < safe {
			return uint64(x)
		}
		return fmt.Sprint(uint64(x))
	case types.Double:
		d := float64(x)
		switch {
		case math.IsNaN(d):
			return "NaN"
		case math.IsInf(d, 1):
			return "Infinity"
		case math.IsInf(d, -1):
			return "-Infinity"
		}
		return d
	case types.String:
		return string(x)
	case types.Bool:
		return bool(x)
	case types.Bytes:
		return base64.StdEncoding.EncodeToString([]byte(x))
	case types.Null:
		return nil
	case types.Timestamp, types.Duration:
		return x.ConvertToType(types.StringType).Value()
	case *types.Optional:
		if x.HasValue() {
			return toJSON(x.GetValue())
		}
		return nil
	case ref.Type:
		return x.TypeName()
	}
	if l, ok := v.(traits.Lister); ok {
		out := []any{}
		for it := l.Iterator(); it.HasNext() == types.True; {
			out = append(out, toJSON(it.Next()))
		}
		return out
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks := fmt.Sprint(toJSON(k))
			out[ks] = toJSON(m.Get(k))
		}
		return out
	}
	if s, ok := v.Value().(fmt.Stringer); ok {
		return s.String()
	}
	if str := v.ConvertToType(types.StringType); !types.IsError(str) {
		return str.Value()
	}
	return fmt.Sprint(v.Value())
}

func typeName(v ref.Val) string {
	switch v.(type) {
	case ref.Type:
		return "type"
	case traits.Lister:
		return "list"
	case traits.Mapper:
		return "map"
	}
	n := v.Type().TypeName()
	return n
}

func errorClass(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "operation cancelled: actual cost limit exceeded") || strings.Contains(msg, "running out of cost budget") || strings.Contains(msg, "cost budget exceeded") {
		return "CEL_COST_LIMIT"
	}
	return "CEL_EVAL"
}

func outcome(c caseIn) map[string]any {
	p, err := prepare(c)
	if err != nil {
		return map[string]any{"id": c.ID, "error": "INPUT", "message": err.Error()}
	}
	if p.compileErr != "" {
		return map[string]any{"id": c.ID, "error": "CEL_COMPILE", "message": p.compileErr}
	}
	v, err := p.run()
	if err != nil {
		return map[string]any{"id": c.ID, "error": errorClass(err), "message": err.Error()}
	}
	return map[string]any{"id": c.ID, "type": typeName(v), "value": toJSON(v)}
}

// medianNs times f in 9 samples of at least minDuration each and returns the median ns.
func medianNs(f func(), minDuration time.Duration) float64 {
	samples := []float64{}
	for s := 0; s < 9; s++ {
		n := 0
		start := time.Now()
		for time.Since(start) < minDuration {
			for i := 0; i < 100; i++ {
				f()
			}
			n += 100
		}
		samples = append(samples, float64(time.Since(start).Nanoseconds())/float64(n))
	}
	sort.Float64s(samples)
	return samples[len(samples)/2]
}

// bench times one case two ways: nsPerEval is Program.Eval on a prepared activation (the
// apiserver's program options: OptOptimize, cost tracking, per-call limit); nsPerRequest
// is the admission path, ForInput, which builds request/object/variables each time.
func bench(c caseIn, minDuration time.Duration) map[string]any {
	p, err := prepare(c)
	if err != nil || p.compileErr != "" {
		return map[string]any{"id": c.ID, "error": "CEL_COMPILE"}
	}
	decls := plugincel.OptionalVariableDeclarations{HasParams: true}
	res := plugincel.NewCompiler(envSet).CompileCELExpression(expr(c.Expression), decls, environment.NewExpressions)
	if res.Error != nil {
		return map[string]any{"id": c.ID, "error": "CEL_COMPILE"}
	}
	obj, _ := unstructuredOf(c.Object)
	act := map[string]any{"object": nil, "oldObject": nil, "params": nil, "namespaceObject": nil, "request": map[string]any{}}
	if obj != nil {
		act["object"] = obj.Object
	}
	perEval := medianNs(func() { _, _, _ = res.Program.ContextEval(context.Background(), act) }, minDuration)
	perRequest := medianNs(func() { _, _ = p.run() }, minDuration)
	return map[string]any{"id": c.ID, "nsPerEval": perEval, "nsPerRequest": perRequest}
}

type policyBenchIn struct {
	Object      json.RawMessage `json:"object"`
	Expressions []string        `json:"expressions"`
}

// benchPolicy times what the apiserver does for one request against one VAP with these
// validations: ForInput of the compiled validations (the validator's path, cost budget
// per policy), with the admission attributes, the versioned object and the request built
// per call, each call on another copy of the object.
func benchPolicy(in policyBenchIn, minDuration time.Duration) map[string]any {
	compiler, err := plugincel.NewCompositedCompiler(envSet)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	accessors := make([]plugincel.ExpressionAccessor, len(in.Expressions))
	for i, e := range in.Expressions {
		accessors[i] = expr(e)
	}
	decls := plugincel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}
	evaluator := compiler.CompileCondition(accessors, decls, environment.StoredExpressions)
	if errs := evaluator.CompilationErrors(); len(errs) > 0 {
		return map[string]any{"error": errs[0].Error()}
	}
	const copies = 4000
	objects := make([]*unstructured.Unstructured, copies)
	for i := range objects {
		u, err := unstructuredOf(in.Object)
		if err != nil {
			return map[string]any{"error": err.Error()}
		}
		objects[i] = u
	}
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	userInfo := &user.DefaultInfo{Name: "alice"}
	n := 0
	failures := 0
	perRequest := medianNs(func() {
		obj := objects[n%copies]
		n++
		attrs := admission.NewAttributesRecord(obj, nil, gvk, obj.GetNamespace(), obj.GetName(), gvr, "", admission.Create, nil, false, userInfo)
		va := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj)}
		req := plugincel.CreateAdmissionRequest(attrs, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(gvk))
		results, _, err := evaluator.ForInput(context.Background(), va, req, plugincel.OptionalVariableBindings{}, nil, celconfig.RuntimeCELCostBudget)
		if err != nil || len(results) != len(in.Expressions) {
			failures++
		}
	}, minDuration)
	return map[string]any{"nsPerRequest": perRequest, "failures": failures}
}

func main() {
	benchMode := flag.Bool("bench", false, "time each case (compiled once) instead of printing outcomes")
	benchPolicyMode := flag.Bool("bench-policy", false, "time one request of one policy of several validations on a fresh object")
	flag.Parse()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		if *benchPolicyMode {
			var p policyBenchIn
			if err := json.Unmarshal(line, &p); err != nil {
				_ = enc.Encode(map[string]any{"error": err.Error()})
				continue
			}
			_ = enc.Encode(benchPolicy(p, 50*time.Millisecond))
			continue
		}
		var c caseIn
		if err := json.Unmarshal(line, &c); err != nil {
			_ = enc.Encode(map[string]any{"error": "INPUT", "message": err.Error()})
			continue
		}
		var o map[string]any
		func() {
			defer func() {
				if r := recover(); r != nil {
					o = map[string]any{"id": c.ID, "error": "PANIC", "message": fmt.Sprint(r)}
				}
			}()
			if *benchMode {
				o = bench(c, 20*time.Millisecond)
			} else {
				o = outcome(c)
			}
		}()
		_ = enc.Encode(o)
	}
}
