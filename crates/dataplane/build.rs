fn main() {
    // The addon's link settings; nothing to do for a build without it.
    if std::env::var_os("CARGO_FEATURE_NAPI").is_some() {
        napi_build::setup();
    }
}
