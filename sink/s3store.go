package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3 lakes are named by URL:
//
//	s3://bucket[/prefix]?endpoint=http://host:9000&region=eu-west-1&path_style=true&part_size=16MiB
//
// Query parameters (all optional):
//
//   - endpoint: the S3 API's base URL, http:// or https:// with a host and
//     optional port and nothing else. Default: $AWS_ENDPOINT_URL_S3, else
//     $AWS_ENDPOINT_URL, else https://s3.amazonaws.com (AWS).
//   - region: the bucket's region. Default: $AWS_REGION, else
//     $AWS_DEFAULT_REGION, else asked from the server (GetBucketLocation).
//   - path_style: true addresses the bucket in the path (MinIO, Ceph,
//     versitygw, most servers on a plain host:port), false as a virtual host
//     (bucket.endpoint). Default: virtual host on AWS and GCS, path
//     otherwise.
//   - part_size: objects larger than this are uploaded in multipart parts of
//     this size; smaller ones with one PUT. At least 5MiB (S3's minimum part),
//     default 16MiB; plain bytes or a KiB/MiB/GiB suffix.
//
// Credentials come from the environment the way AWS tools read them:
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// ~/.aws/credentials, profile AWS_PROFILE or "default"), else an EC2/ECS
// instance role. Without any, requests are anonymous.

// S3Location is a parsed s3:// root.
type S3Location struct {
	Bucket string
	// Prefix is the key prefix of the lake inside the bucket, without
	// leading or trailing slash ("" for the bucket's root).
	Prefix   string
	Endpoint *url.URL
	Region   string
	// PathStyle is nil when the lookup style is left to the client.
	PathStyle *bool
	PartSize  int64
}

const (
	defaultPartSize = 16 << 20
	minS3PartSize   = 5 << 20
	maxS3PartSize   = 5 << 30
)

// ParseS3URL parses an s3:// lake root; errors name what is wrong.
func ParseS3URL(root string) (S3Location, error) {
	var loc S3Location
	u, err := url.Parse(root)
	if err != nil {
		return loc, fmt.Errorf("parsing %q: %w", root, err)
	}
	if u.Scheme != "s3" {
		return loc, fmt.Errorf("%q: not an s3:// URL", root)
	}
	if u.User != nil {
		return loc, fmt.Errorf("%q: credentials do not belong in the URL; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared credentials file", redact(u))
	}
	if u.Host == "" {
		return loc, fmt.Errorf("%q: no bucket (want s3://bucket/prefix)", root)
	}
	if u.Port() != "" {
		return loc, fmt.Errorf("%q: %q is not a bucket name; name the server with ?endpoint=http://host:port", root, u.Host)
	}
	loc.Bucket = u.Host
	if err := s3utils.CheckValidBucketNameStrict(loc.Bucket); err != nil {
		return loc, fmt.Errorf("%q: bucket %q: %v", root, loc.Bucket, err)
	}
	loc.Prefix = strings.Trim(u.Path, "/")
	if loc.Prefix != "" {
		if err := checkKey(loc.Prefix); err != nil {
			return loc, fmt.Errorf("%q: prefix %q: empty, . or .. segments are not allowed", root, loc.Prefix)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return loc, fmt.Errorf("%q: query parameters: %w", root, err)
	}
	known := map[string]bool{"endpoint": true, "region": true, "path_style": true, "part_size": true}
	var unknown []string
	for k := range q {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return loc, fmt.Errorf("%q: unknown parameter(s) %s (known: endpoint, region, path_style, part_size)", root, strings.Join(unknown, ", "))
	}

	endpoint := firstNonEmpty(q.Get("endpoint"), os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), "https://s3.amazonaws.com")
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return loc, fmt.Errorf("%q: endpoint: %w", root, err)
	}
	loc.Endpoint = ep
	loc.Region = firstNonEmpty(q.Get("region"), os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	if ps := q.Get("path_style"); ps != "" {
		b, err := strconv.ParseBool(ps)
		if err != nil {
			return loc, fmt.Errorf("%q: path_style=%q: want true or false", root, ps)
		}
		loc.PathStyle = &b
	}
	loc.PartSize = defaultPartSize
	if ps := q.Get("part_size"); ps != "" {
		n, err := parseSize(ps)
		if err != nil {
			return loc, fmt.Errorf("%q: part_size=%q: %w", root, ps, err)
		}
		if n < minS3PartSize || n > maxS3PartSize {
			return loc, fmt.Errorf("%q: part_size=%q: want between 5MiB and 5GiB (S3's part limits)", root, ps)
		}
		loc.PartSize = n
	}
	return loc, nil
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want http://host[:port] or https://host[:port]", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: bad port %q", s, p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: an endpoint is scheme://host[:port] only (the bucket and prefix go in the s3:// URL)", redact(u))
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, suf.s) {
			num, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number of bytes, optionally with KiB, MiB or GiB")
	}
	return n * mult, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	return c.String()
}

// String gives the URL of the location without credentials.
func (l S3Location) String() string {
	s := "s3://" + l.Bucket
	if l.Prefix != "" {
		s += "/" + l.Prefix
	}
	return s + "?endpoint=" + l.Endpoint.String()
}

// S3Store keeps objects in an S3 bucket under a prefix, through
// github.com/minio/minio-go (AWS S3, MinIO, Ceph, R2, GCS interoperability,
// versitygw…). A PUT and a completed multipart upload are atomic: readers
// see the previous object or the whole new one. Multipart uploads that fail
// are aborted by the client.
type S3Store struct {
	loc S3Location
	cl  *minio.Client
}

// S3StartupTimeout bounds the bucket check of OpenStore.
const S3StartupTimeout = 15 * time.Second

// NewS3Store connects to the bucket of loc and checks that it exists and
// is reachable (HeadBucket): an error names the bucket and the endpoint.
func NewS3Store(ctx context.Context, loc S3Location) (*S3Store, error) {
	lookup := minio.BucketLookupAuto
	if loc.PathStyle != nil {
		lookup = minio.BucketLookupDNS
		if *loc.PathStyle {
			lookup = minio.BucketLookupPath
		}
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport, Timeout: 5 * time.Second}},
	})
	cl, err := minio.New(loc.Endpoint.Host, &minio.Options{
		Creds:        creds,
		Secure:       loc.Endpoint.Scheme == "https",
		Region:       loc.Region,
		BucketLookup: lookup,
		MaxRetries:   3,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", loc, err)
	}
	s := &S3Store{loc: loc, cl: cl}
	hctx, cancel := context.WithTimeout(ctx, S3StartupTimeout)
	defer cancel()
	ok, err := cl.BucketExists(hctx, loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("S3 bucket %q at %s is not reachable: %w", loc.Bucket, loc.Endpoint, describeS3Error(err))
	}
	if !ok {
		return nil, fmt.Errorf("S3 bucket %q does not exist at %s (create it first)", loc.Bucket, loc.Endpoint)
	}
	return s, nil
}

// Location returns where the store is.
func (s *S3Store) Location() S3Location { return s.loc }

// Client returns the underlying client (tests, tools).
func (s *S3Store) Client() *minio.Client { return s.cl }

func (s *S3Store) String() string { return s.loc.String() }

func (s *S3Store) objectKey(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if s.loc.Prefix == "" {
		return key, nil
	}
	return s.loc.Prefix + "/" + key, nil
}

// Put implements ObjectStore: one PUT up to the part size, a multipart
// upload above it (both atomic on S3).
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	ok, err := s.objectKey(key)
	if err != nil {
		return 0, err
	}
	size := int64(-1)
	if l, isLen := r.(interface{ Len() int }); isLen {
		size = int64(l.Len())
	}
	info, err := s.cl.PutObject(ctx, s.loc.Bucket, ok, r, size, minio.PutObjectOptions{
		PartSize:    uint64(s.loc.PartSize),
		ContentType: contentType(key),
	})
	if err != nil {
		return 0, fmt.Errorf("writing %s to %s: %w", key, s, describeS3Error(err))
	}
	return info.Size, nil
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".parquet"):
		return "application/vnd.apache.parquet"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// Get implements ObjectStore.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ok, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.cl.GetObject(ctx, s.loc.Bucket, ok, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy: Stat sends the request and surfaces its error.
		_, err = obj.Stat()
		if err != nil {
			_ = obj.Close()
		}
	}
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("reading %s from %s: %w", key, s, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s from %s: %w", key, s, describeS3Error(err))
	}
	return obj, nil
}

// List implements ObjectStore; the client pages through ListObjectsV2 (1,000
// keys a page).
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	full := prefix
	base := ""
	if s.loc.Prefix != "" {
		base = s.loc.Prefix + "/"
		full = base + prefix
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []ObjectInfo
	for o := range s.cl.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", prefix, s, describeS3Error(o.Err))
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // folder markers made by consoles
		}
		out = append(out, ObjectInfo{Key: strings.TrimPrefix(o.Key, base), Size: o.Size, ModTime: o.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements ObjectStore (S3's DELETE of a missing key succeeds).
func (s *S3Store) Delete(ctx context.Context, key string) error {
	ok, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if err := s.cl.RemoveObject(ctx, s.loc.Bucket, ok, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %s from %s: %w", key, s, describeS3Error(err))
	}
	return nil
}

func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

// describeS3Error keeps the client's error and adds the S3 error code when
// the message lacks it.
func describeS3Error(err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code != "" && !strings.Contains(err.Error(), resp.Code) {
		return fmt.Errorf("%w (S3 code %s, HTTP %d)", err, resp.Code, resp.StatusCode)
	}
	return err
}
