// ask.cpp: one question through the model's chat template, with the C++
// wrapper: RAII handles, exceptions, and a lambda streaming the answer.
//
//   ask MODEL [QUESTION]
#include "minke.hpp"

#include <cstdio>
#include <iostream>

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " MODEL [QUESTION]\n";
        return 2;
    }
    const std::string question = argc > 2 ? argv[2] : "What is the capital of France?";
    try {
        minke::Model model(argv[1]);
        minke::Tokenizer tok = model.tokenizer();

        minke_session_params sp = minke::Session::default_params();
        sp.n_ctx = 512;
        std::cerr << "[" << model.arch() << ", session of " << minke::Session::bytes(model, sp)
                  << " bytes]\n";
        minke::Session session(model, sp);
        minke::Sampler sampler(model);

        // The question is a user's text: encode_chat keeps any special-token
        // text in it as text.
        std::vector<uint32_t> ids = tok.encode_chat(
            {{"system", "You are a helpful assistant. Answer in one sentence."}, {"user", question}},
            true);

        minke_generate_params gp = minke::default_generate_params();
        gp.max_tokens = 64;
        std::string answer;
        minke_generate_result r = minke::generate(
            session, sampler, ids,
            [&](std::string_view piece) {
                answer += piece;
                std::cout << piece << std::flush;
                return true;
            },
            gp);
        std::cout << "\n";
        std::cerr << "[" << r.n_prompt_tokens << " prompt tokens, " << r.n_tokens
                  << " generated, stop " << r.stop_reason << "]\n";
        return answer.empty() ? 1 : 0;
    } catch (const minke::Error &e) {
        std::cerr << "ask: " << e.what() << "\n";
        return 1;
    }
}
