// ChatMessage.java: one turn of a conversation (minke_chat_message).
package dev.minke;

import java.util.Objects;

/** One turn of a conversation, for the model's chat template. */
public final class ChatMessage {
    private final String role;
    private final String content;

    /** A turn of {@code role} ({@code "system"}, {@code "user"}, {@code "assistant"}...). */
    public ChatMessage(String role, String content) {
        this.role = Objects.requireNonNull(role, "role");
        this.content = Objects.requireNonNull(content, "content");
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    public String role() {
        return role;
    }

    public String content() {
        return content;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ChatMessage)) {
            return false;
        }
        ChatMessage m = (ChatMessage) o;
        return role.equals(m.role) && content.equals(m.content);
    }

    @Override
    public int hashCode() {
        return role.hashCode() * 31 + content.hashCode();
    }

    @Override
    public String toString() {
        return role + ": " + content;
    }
}
