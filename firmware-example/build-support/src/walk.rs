//! The frame loop's build settings beyond the model: a latent walk (`MICROGAN_WALK_STEPS`) and
//! a fixed class (`MICROGAN_CLASS`), written as constants for the firmware to `include!`.

use std::env;

use crate::{number_setting, out_dir, Constants, Embedded, Error};

/// Reads `MICROGAN_WALK_STEPS` (frames per walk segment, 0 = no walk, the default) and
/// `MICROGAN_CLASS` (unset = cycle through the classes), checks the class against the embedded
/// model and writes `OUT_DIR/walk.rs` with `WALK_STEPS: u32` and `CLASS: Option<usize>`.
pub fn walk_settings(embedded: &Embedded) -> Result<(), Error> {
    let steps = number_setting("MICROGAN_WALK_STEPS", 0, 0..=gan_app::walk::MAX_STEPS)?;
    println!("cargo:rerun-if-env-changed=MICROGAN_CLASS");
    let class = class_setting(env::var("MICROGAN_CLASS").ok(), embedded.classes)?;
    constants(steps, class).write(&out_dir()?, "walk.rs")?;
    Ok(())
}

fn constants(steps: u32, class: Option<usize>) -> Constants {
    let mut c = Constants::new();
    c.add(
        "Frames per segment of the latent walk, 0 for none (MICROGAN_WALK_STEPS).",
        "WALK_STEPS",
        "u32",
        steps,
    );
    c.add(
        "The class of every frame, None to cycle through the classes (MICROGAN_CLASS).",
        "CLASS",
        "Option<usize>",
        class,
    );
    c
}

/// `None` when unset or empty, else a class the model has.
fn class_setting(value: Option<String>, num_classes: usize) -> Result<Option<usize>, Error> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.parse::<usize>() {
        Ok(k) if k < num_classes => Ok(Some(k)),
        _ => Err(Error::ClassSetting { value, num_classes }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_is_optional_and_must_be_one_the_model_has() {
        assert_eq!(class_setting(None, 10).unwrap(), None);
        assert_eq!(class_setting(Some(String::new()), 0).unwrap(), None);
        assert_eq!(class_setting(Some("9".into()), 10).unwrap(), Some(9));
        let err = class_setting(Some("10".into()), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MICROGAN_CLASS=\"10\": the model has classes 0 to 9"
        );
        let err = class_setting(Some("0".into()), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MICROGAN_CLASS=\"0\": the model is unconditional (leave MICROGAN_CLASS unset)"
        );
        assert!(class_setting(Some("three".into()), 10).is_err());
    }

    #[test]
    fn the_constants_are_rust_items() {
        let c = constants(8, Some(3));
        assert!(c.as_str().contains("pub const WALK_STEPS: u32 = 8;"));
        assert!(c
            .as_str()
            .contains("pub const CLASS: Option<usize> = Some(3);"));
        assert!(constants(0, None)
            .as_str()
            .contains("pub const CLASS: Option<usize> = None;"));
    }
}
