package imagebuild

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteArchive writes img, named ref (e.g. ghcr.io/sluice-dev/sluice:v0.2.0),
// to path as one tar that is both an OCI image layout (oci-layout,
// index.json, blobs/sha256/...) and a `docker save` archive (manifest.json
// pointing at the same blobs), as Docker 25+ writes them. docker load and
// podman load read manifest.json; ctr import (kind load image-archive) and
// crane read either. Entries are sorted and dated t, so the archive's bytes
// are as reproducible as the image.
func WriteArchive(path, ref string, img v1.Image, t time.Time) error {
	files := map[string][]byte{}
	blob := func(d v1.Hash) string { return "blobs/" + d.Algorithm + "/" + d.Hex }

	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	files[blob(digest)] = manifest
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	files[blob(configName)] = config
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		files[blob(d)] = b
		layerPaths = append(layerPaths, blob(d))
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": types.OCIManifestSchema1,
			"digest":    digest.String(),
			"size":      len(manifest),
			"platform":  map[string]string{"os": cf.OS, "architecture": cf.Architecture},
			"annotations": map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
	if files["index.json"], err = json.Marshal(index); err != nil {
		return err
	}
	files["oci-layout"] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	docker := []map[string]any{{"Config": blob(configName), "RepoTags": []string{ref}, "Layers": layerPaths}}
	if files["manifest.json"], err = json.Marshal(docker); err != nil {
		return err
	}

	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []string{"blobs/", "blobs/sha256/"}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, n := range names {
		b := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: t, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
