//! The image catalog (`docker_images.conf`): which stanzas are offered and what each entry
//! shows. Pure: the endpoint lists the stanzas with one call and builds the reply here.
//!
//! An entry is `{label, image, repo, runtime}`: `label` is the trimmed `title` (the stanza name
//! when empty), the others are the trimmed stored values. A stanza without an `image` cannot be
//! started, so it is left out and named in a warning instead; `[default]` is never an entry.

use crate::conffile::Stanza;
use serde_json::{Map, Value, json};

/// The conf holding the catalog.
pub const CONF: &str = "docker_images";

/// One image a container can be started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The stanza name: the catalog key.
    pub key: String,
    /// What the UI shows.
    pub label: String,
    /// `name:tag`, matched by start requests.
    pub image: String,
    /// Registry prefix, e.g. `splunk/`.
    pub repo: String,
    /// Supported runtimes as stored, e.g. `none,nvidia`.
    pub runtime: String,
}

/// The catalog built from the listed stanzas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Offered images, in listing order.
    pub images: Vec<Image>,
    /// Stanzas left out because they have no `image`.
    pub skipped: Vec<String>,
}

impl Catalog {
    /// Builds the catalog from every stanza of `docker_images.conf`.
    pub fn from_stanzas(stanzas: &[Stanza]) -> Catalog {
        let mut out = Catalog::default();
        for s in stanzas.iter().filter(|s| s.name != "default") {
            let text = |k: &str| s.get(k).map(str::trim).unwrap_or_default().to_string();
            let image = text("image");
            if image.is_empty() {
                out.skipped.push(s.name.clone());
                continue;
            }
            let title = text("title");
            out.images.push(Image {
                key: s.name.clone(),
                label: if title.is_empty() {
                    s.name.trim().to_string()
                } else {
                    title
                },
                image,
                repo: text("repo"),
                runtime: text("runtime"),
            });
        }
        out
    }

    /// `docker_images` of the reply: key to `{label, image, repo, runtime}`.
    pub fn to_json(&self) -> Map<String, Value> {
        self.images
            .iter()
            .map(|i| {
                (
                    i.key.clone(),
                    json!({
                        "label": i.label,
                        "image": i.image,
                        "repo": i.repo,
                        "runtime": i.runtime,
                    }),
                )
            })
            .collect()
    }

    /// The warning naming skipped stanzas, if any.
    pub fn skipped_warning(&self) -> Option<String> {
        (!self.skipped.is_empty()).then(|| {
            format!(
                "docker_images.conf stanzas without an image were left out: {}. \
                 Set image = <name:tag> in them.",
                self.skipped.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, keys: &[(&str, &str)]) -> Stanza {
        Stanza {
            name: name.into(),
            entries: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn entries_labels_and_skips() {
        let c = Catalog::from_stanzas(&[
            st("default", &[("repo", "splunk/")]),
            st(
                "golden-gpu",
                &[
                    ("title", " Golden GPU "),
                    ("image", " mltk-container-golden-gpu:5.2.1 "),
                    ("repo", "splunk/"),
                    ("runtime", "none,nvidia"),
                ],
            ),
            st("untitled", &[("image", "x:1")]),
            st("broken", &[("title", "No image"), ("image", "  ")]),
        ]);
        assert_eq!(c.images.len(), 2);
        let j = c.to_json();
        assert_eq!(
            j["golden-gpu"],
            json!({"label": "Golden GPU", "image": "mltk-container-golden-gpu:5.2.1",
                   "repo": "splunk/", "runtime": "none,nvidia"})
        );
        assert_eq!(j["untitled"]["label"], "untitled");
        assert_eq!(j["untitled"]["repo"], "");
        assert_eq!(c.skipped, ["broken"]);
        assert!(c.skipped_warning().is_some_and(|w| w.contains("broken")));
    }

    #[test]
    fn an_empty_conf_is_an_empty_catalog() {
        let c = Catalog::from_stanzas(&[st("default", &[])]);
        assert!(c.images.is_empty() && c.to_json().is_empty());
        assert_eq!(c.skipped_warning(), None);
    }

    #[test]
    fn shipped_catalog_matches_its_spec() {
        let spec =
            crate::confspec::Spec::parse(include_str!("../../README/docker_images.conf.spec"));
        let conf =
            crate::conffile::ConfFile::parse(include_str!("../../default/docker_images.conf"))
                .expect("default/docker_images.conf parses");
        assert_eq!(spec.undescribed(&conf), Vec::<(String, String)>::new());
        let c = Catalog::from_stanzas(&conf.stanzas);
        let keys: Vec<&str> = c.images.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "golden-cpu",
                "golden-cpu-arm",
                "golden-gpu",
                "golden-cpu-transformers",
                "golden-gpu-transformers",
                "golden-gpu-rapids",
                "llm-rag",
                "escu-cpu",
                "spark",
                "ai-investigator"
            ]
        );
        for i in &c.images {
            assert_eq!(i.repo, "splunk/", "{}", i.key);
            assert!(i.image.contains(':') && !i.label.is_empty(), "{}", i.key);
            let gpu = i.key.contains("gpu");
            let want = if gpu { "none,nvidia" } else { "none" };
            assert_eq!(i.runtime, want, "{}", i.key);
            assert!(
                i.key == "ai-investigator" || i.image.contains(":5.2.1"),
                "{}",
                i.image
            );
        }
        assert!(c.skipped.is_empty());
    }
}
