//! MLTK models as the AI Toolkit stores them: one lookup table file per model,
//! `__mlspl_<model>.mlmodel`, in `etc/apps/<app>/lookups/` (shared in the app) or
//! `etc/users/<user>/<app>/lookups/` (private), reached through splunkd's
//! `data/lookup-table-files`. Pure: the names and the texts of `DELETE start_container/{model}`.

use crate::error::ApiError;

/// The lookup file name MLTK gives the model `model` (a name checked by
/// [`crate::names::model_name`], so it is a plain path segment).
pub fn model_file(model: &str) -> String {
    format!("__mlspl_{model}.mlmodel")
}

/// Where the caller's request looked for a model, for messages: `user/app`, or the caller's
/// default app when the request had no app namespace.
pub fn namespace_text(user: &str, app: Option<&str>) -> String {
    match app {
        Some(app) => format!("namespace {user}/{app}"),
        None => format!("the default app of user {user}"),
    }
}

/// The 404 for a model whose file splunkd does not show the caller. With a deployment record
/// it says that the record was kept, and how to remove it: nothing is changed when the model
/// is not there, so a typo never removes a record.
pub fn model_absent(model: &str, place: &str, has_record: bool) -> ApiError {
    let mut text = format!(
        "Model {model} was not found: there is no lookup file {} in {place} that you can see.",
        model_file(model)
    );
    if has_record {
        text.push_str(&format!(
            " Its deployment record was kept; POST /mltk/stop_container with model={model} \
             stops its container and removes the record."
        ));
    }
    ApiError::not_found(text)
}

/// The 403 when splunkd says the caller may not delete the model's file, checked before a
/// forced stop so nothing is stopped for a delete that cannot happen.
pub fn model_not_removable(model: &str, place: &str) -> ApiError {
    ApiError::new(
        crate::error::ErrorKind::Forbidden,
        format!(
            "You may not delete model {model} ({} in {place}); nothing was stopped or removed.",
            model_file(model)
        ),
    )
}

/// What happened to the model's deployment record once the model was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// There was none.
    None,
    /// It was deleted (or had gone meanwhile).
    Deleted,
    /// The shipped `__dev__` record was emptied.
    Emptied,
    /// The shipped `__dev__` record was empty already.
    AlreadyEmpty,
}

impl RecordOutcome {
    /// `delete_data.record` of the reply.
    pub fn key(self) -> &'static str {
        match self {
            RecordOutcome::None => "none",
            RecordOutcome::Deleted => "deleted",
            RecordOutcome::Emptied | RecordOutcome::AlreadyEmpty => "emptied",
        }
    }

    /// The INFO message saying what happened to the record.
    pub fn text(self, model: &str) -> String {
        match self {
            RecordOutcome::None => format!("Model {model} had no deployment record."),
            RecordOutcome::Deleted => {
                format!("The deployment record of model {model} was removed too.")
            }
            RecordOutcome::Emptied => format!(
                "The record {model} ships with the app and cannot be deleted; its keys were \
                 emptied."
            ),
            RecordOutcome::AlreadyEmpty => format!(
                "The record {model} ships with the app and cannot be deleted; its keys were \
                 already empty, nothing was changed."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_files_are_mltk_lookup_names() {
        assert_eq!(model_file("my_model"), "__mlspl_my_model.mlmodel");
        assert_eq!(model_file("__dev__"), "__mlspl___dev__.mlmodel");
    }

    #[test]
    fn an_absent_model_keeps_the_record_and_says_how_to_remove_it() {
        let place = namespace_text("bob", Some("search"));
        let e = model_absent("m1", &place, true);
        assert_eq!(e.status(), 404);
        assert!(
            e.message
                .contains("__mlspl_m1.mlmodel in namespace bob/search")
        );
        assert!(
            e.message.contains("record was kept")
                && e.message
                    .contains("POST /mltk/stop_container with model=m1"),
            "{}",
            e.message
        );
        let e = model_absent("m1", &namespace_text("bob", None), false);
        assert!(e.message.contains("default app of user bob"));
        assert!(!e.message.contains("record"), "{}", e.message);
        let e = model_not_removable("m1", &place);
        assert_eq!(e.status(), 403);
        assert!(e.message.contains("nothing was stopped"));
    }

    #[test]
    fn record_outcomes_name_what_happened() {
        assert_eq!(RecordOutcome::None.key(), "none");
        assert_eq!(RecordOutcome::Deleted.key(), "deleted");
        assert_eq!(RecordOutcome::AlreadyEmpty.key(), "emptied");
        assert!(
            RecordOutcome::None
                .text("m")
                .contains("no deployment record")
        );
        assert!(RecordOutcome::Deleted.text("m").contains("removed too"));
        assert!(RecordOutcome::Emptied.text("__dev__").contains("emptied"));
        assert!(
            RecordOutcome::AlreadyEmpty
                .text("__dev__")
                .contains("already empty")
        );
    }
}
