//! `kdep mod publish`: a package as an OCI artifact. The manifest is built from the archive
//! and fixed strings only (no time stamps), so the same sources give the same manifest digest.

use std::collections::BTreeMap;

use kdep_compiler::package_toml::PackageConfig;
use serde_json::json;

use crate::archive;
use crate::oci::{self, Client, OciError, Reference};

/// What publishing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Pushed; the manifest digest.
    New(String),
    /// The version was already there with exactly this content.
    Unchanged(String),
}

/// The manifest and blobs of a package artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    /// The empty config `{}`.
    pub config: Vec<u8>,
    /// The package archive.
    pub layer: Vec<u8>,
}

/// Builds the artifact of a package's files.
pub fn artifact(config: &PackageConfig, files: &BTreeMap<String, String>) -> Result<Artifact, String> {
    let layer = archive::pack(files)?;
    let checksum =
        archive::PackageFiles::from_entries(files.iter().map(|(p, t)| (p.clone(), t.as_bytes().to_vec())).collect())?
            .checksum;
    let empty = b"{}".to_vec();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": oci::MANIFEST_MEDIA_TYPE,
        "artifactType": oci::ARTIFACT_TYPE,
        "config": { "mediaType": oci::EMPTY_CONFIG_MEDIA_TYPE, "digest": oci::digest(&empty), "size": empty.len() },
        "layers": [{
            "mediaType": oci::LAYER_MEDIA_TYPE,
            "digest": oci::digest(&layer),
            "size": layer.len(),
            "annotations": { "org.opencontainers.image.title": format!("{}-{}.tar.gz", config.name, config.version) },
        }],
        "annotations": {
            "org.opencontainers.image.title": config.name,
            "org.opencontainers.image.version": config.version,
            "dev.kdep.package.checksum": checksum,
        },
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    Ok(Artifact { manifest, config: empty, layer })
}

/// Pushes the package as `reference:version` unless that tag exists; an existing tag with the
/// same manifest digest is success, with another digest an error (versions are immutable).
pub fn publish(
    reference: &Reference,
    config: &PackageConfig,
    files: &BTreeMap<String, String>,
) -> Result<Published, OciError> {
    let Artifact { manifest, config: empty, layer } =
        artifact(config, files).map_err(|e| OciError { message: e, help: None })?;
    let wanted = oci::digest(&manifest);
    let mut client = Client::new();
    if let Some(existing) = client.tag_digest(reference, &config.version)? {
        if existing == wanted {
            return Ok(Published::Unchanged(existing));
        }
        return Err(OciError {
            message: format!(
                "version {} of `{reference}` is already published with other content ({existing}; these sources are {wanted})",
                config.version
            ),
            help: Some("published versions never change: raise `version` in kdep.toml and publish that".into()),
        });
    }
    client.push_blob(reference, &empty)?;
    client.push_blob(reference, &layer)?;
    let digest = client.push_manifest(reference, &config.version, &manifest)?;
    Ok(Published::New(digest))
}
