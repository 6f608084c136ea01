package io.cpstream.cli;

import io.cpstream.config.ConfigKey;

/** Checks on option values that picocli's converters cannot make on their own. */
final class Options {

    private Options() {
    }

    /**
     * A daemon option that must be given, on the command line or in the config file (picocli's
     * {@code required} would not see the file's value).
     */
    static <T> T require(T value, ConfigKey<T> key) {
        if (value == null) {
            throw new Errors.UserError("missing " + key.option() + ": give it on the command line or as '"
                    + key.name() + ":' in the " + ConfigFile.OPTION + " file");
        }
        return value;
    }
}
